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


def interested(subscriber_categories: list[str] | tuple[str, ...], offer_category: str) -> bool:
    """An empty list means every category."""
    return not subscriber_categories or offer_category in subscriber_categories
