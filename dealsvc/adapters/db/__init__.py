"""The database adapter: engine set-up per dialect, transactions, models and migrations."""
from .session import Database, make_engine

__all__ = ["Database", "make_engine"]
