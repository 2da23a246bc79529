"""PostgreSQL's binary COPY stream, decoded however it is cut into chunks (adapters/spatial/copy_decoder.py);
the real server's stream is decoded in tests/integration/test_geo_index.py."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from dealsvc.adapters.spatial.copy_decoder import SIGNATURE, decode_copy

COLUMNS = (("pk", ">i8"), ("lat", ">f8"))
ROWS = [(4, 45.4642), (8, -33.8688), (2**40, 0.0)]


def stream(rows, extension: bytes = b"", fields: int = 2) -> bytes:
    """What COPY ... TO STDOUT (FORMAT binary) sends: the header, the records, the trailer."""
    out = SIGNATURE + struct.pack(">iI", 0, len(extension)) + extension
    for pk, lat in rows:
        out += struct.pack(">h", fields) + struct.pack(">iq", 8, pk) + struct.pack(">id", 8, lat)
    return out + b"\xff\xff"


@pytest.mark.parametrize("size", [1, 3, 19, 22, 1 << 20])
def test_the_columns_come_out_whatever_the_chunks(size):
    data = stream(ROWS, extension=b"ext!")
    columns = decode_copy((data[i:i + size] for i in range(0, len(data), size)), COLUMNS)
    assert columns["pk"].tolist() == [r[0] for r in ROWS] and columns["pk"].dtype == np.int64
    assert columns["lat"].tolist() == [r[1] for r in ROWS] and columns["lat"].dtype == np.float64


def test_no_rows_are_empty_columns():
    columns = decode_copy([stream([])], COLUMNS)
    assert len(columns["pk"]) == 0 and columns["pk"].dtype == np.int64 and columns["lat"].dtype == np.float64


@pytest.mark.parametrize("data, problem", [
    (b"NOTCOPY\n\xff\r\n\x00" + bytes(8) + b"\xff\xff", "header"),
    (stream(ROWS, fields=3), "layout"),
    (stream(ROWS)[:-1], "end"),
    (stream(ROWS)[:-2], "end"),
])
def test_a_stream_it_cannot_read_is_an_error_not_wrong_rows(data, problem):
    with pytest.raises(RuntimeError, match=problem):
        decode_copy([data], COLUMNS)
