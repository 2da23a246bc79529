"""Pure rules of the product: no Flask, no SQLAlchemy, no I/O; the clock is passed in."""
