"""An FCM-v1-compatible endpoint that accepts every message at once: the far end of
bench/fanout, so that the figures measure dealsvc and firebase-admin, not the server.

HTTP/1.1 with keep-alive on raw asyncio (one process, no framework): every
`POST .../messages:send` gets 200 `{"name": "projects/<p>/messages/<n>"}`. It counts what it
accepted and answers `GET /count` with the count, so a benchmark can tell when the last push
arrived. Run alone: `python -m bench.fcm_sink --port 8089`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

# Not a benchmark: the server bench/fanout.py sends to. tests/e2e/test_benchmarks.py starts it on
# a free port (--port) and checks that it answers.
SERVER = True

_PROJECT = re.compile(rb"/v1/projects/([^/]+)/messages:send")
_COLLAPSE = re.compile(rb'"collapse_key": ?"([^"]+)"')


class _Sink(asyncio.Protocol):
    accepted = 0
    last_at = 0.0
    per_key: dict[str, list] = {}  # collapse key -> [count, first_at, last_at]

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body = self.buffer[head_end + 4 : end]
            self.buffer = self.buffer[end:]
            self.respond(head.split(b"\r\n", 1)[0], body)

    def respond(self, request_line: bytes, request_body: bytes) -> None:
        method, _, rest = request_line.partition(b" ")
        path = rest.rpartition(b" ")[0]
        if method == b"GET" and path == b"/count":
            body = json.dumps({"accepted": _Sink.accepted, "last_at": _Sink.last_at, "per_key": _Sink.per_key}).encode()
        else:
            match = _PROJECT.search(path)
            if method != b"POST" or not match:
                self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            now = time.time()
            _Sink.accepted += 1
            _Sink.last_at = now
            key = _COLLAPSE.search(request_body)
            if key:
                entry = _Sink.per_key.setdefault(key.group(1).decode(), [0, now, now])
                entry[0] += 1
                entry[2] = now
            body = b'{"name": "projects/%s/messages/%d"}' % (match.group(1), _Sink.accepted)
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Sink, host, port, backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
