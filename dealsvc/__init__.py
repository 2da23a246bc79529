"""dealsvc: neighbourhood surplus-food offers pushed to the residents around the shop."""
