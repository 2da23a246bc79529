"""PostgreSQL's binary COPY output (`COPY ... TO STDOUT (FORMAT binary)`) decoded by numpy a few
megabytes at a time, for rows whose fields are all fixed-width and never NULL: every record then
has the same width, and numpy reads them as an array of structs."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# Bytes gathered before they are decoded: large enough for numpy, small enough to stay flat.
DECODE_BYTES = 4 << 20
_TRAILER = b"\xff\xff"  # a field count of -1


def record_type(columns: Sequence[tuple[str, str]]) -> np.dtype:
    """A record of `columns` ((name, big-endian numpy type) each): a field count, then each
    field's length and value."""
    return np.dtype(
        [("fields", ">i2")] + [item for name, kind in columns for item in ((f"{name}_len", ">i4"), (name, kind))]
    )


def decode_copy(chunks: Iterable[bytes], columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """The columns of every record in `chunks` (the COPY stream, cut anywhere), in native byte order."""
    record = record_type(columns)
    parts: dict[str, list[np.ndarray]] = {name: [] for name, _ in columns}
    native = {name: np.dtype(kind).newbyteorder("=") for name, kind in columns}
    pending = bytearray()
    header_done = False

    def decode(final: bool) -> None:
        nonlocal header_done
        if not header_done:
            if len(pending) < 19:
                return
            if bytes(pending[:11]) != SIGNATURE:
                raise RuntimeError("unexpected COPY header from PostgreSQL")
            extension = int.from_bytes(pending[15:19], "big")
            if len(pending) < 19 + extension:
                return
            del pending[: 19 + extension]
            header_done = True
        usable = len(pending) - (len(_TRAILER) if final else 0)
        whole = usable // record.itemsize * record.itemsize
        if whole:
            records = np.frombuffer(bytes(pending[:whole]), dtype=record)
            widths_ok = all((records[f"{name}_len"] == np.dtype(kind).itemsize).all() for name, kind in columns)
            if not ((records["fields"] == len(columns)).all() and widths_ok):
                raise RuntimeError("unexpected COPY record layout from PostgreSQL")
            for name, found in parts.items():
                found.append(records[name].astype(native[name]))
            del pending[:whole]

    for data in chunks:
        pending += data
        if len(pending) >= DECODE_BYTES:
            decode(final=False)
    decode(final=True)
    if bytes(pending) != _TRAILER:
        raise RuntimeError("unexpected end of the COPY data from PostgreSQL")
    return {name: np.concatenate(found) if found else np.empty(0, dtype=native[name]) for name, found in parts.items()}
