"""The MediaStore of domain/photos.py on local files: one directory (var/media by default), one
file per name, written whole or not at all."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..domain.photos import is_media_name


class LocalMediaStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not is_media_name(name):  # nothing but the names the service gives: no path leaves root
            raise ValueError(f"not a media name: {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        if path.exists():  # named by its content: what is there is the same
            return
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> bytes | None:
        if not is_media_name(name):
            return None
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        if is_media_name(name):
            (self.root / name).unlink(missing_ok=True)
