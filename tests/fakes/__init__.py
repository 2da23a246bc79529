"""Stand-ins for the services dealsvc talks to, run locally for the tests."""
