"""What every topic's queries share: the transaction's session."""
from __future__ import annotations

from sqlalchemy.orm import Session


class OnSession:
    def __init__(self, session: Session):
        self.session = session

    @property
    def is_pg(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"
