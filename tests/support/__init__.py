"""What the tests share: helpers, fixtures and constants, imported by the test modules (tests never import each other)."""
