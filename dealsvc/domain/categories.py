"""The one vocabulary of categories shared by shops, offers and residents' interests."""

CATEGORIES: tuple[str, ...] = (
    "bakery",
    "pastry",
    "dairy",
    "produce",
    "meat",
    "fish",
    "deli",
    "prepared_meals",
    "grocery",
    "beverages",
    "frozen",
    "other",
)

