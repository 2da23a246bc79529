"""Secrets a development instance generates once and keeps in var/ (mode 0600)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def kept_secret(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret in `path`, made and stored on first use; True when it was made now.

    Processes starting together agree on one value: each writes its draft to a private file
    and links it into place, and whoever loses the race reads the winner's (never a file that
    is still being written).
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make() + "\n")
        try:
            os.link(draft, path)
            return path.read_text().strip(), True
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip(), False
