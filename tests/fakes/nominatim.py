"""A local HTTP server that answers like Nominatim's /search endpoint, and records what it was asked."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.http_servers import serve_on_thread


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    user_agent: str | None
    at: float  # time.monotonic() when the request arrived


@dataclass
class Place:
    lat: str
    lon: str
    display_name: str
    osm_type: str = "node"
    osm_id: int = 0
    place_class: str = "shop"
    place_type: str = "bakery"


# What the real service answers for a few addresses (coordinates as strings, like Nominatim).
DEFAULT_PLACES = {
    "via torino 12, milano": Place(
        "45.4627123", "9.1856412",
        "12, Via Torino, Municipio 1, Milano, Lombardia, 20123, Italia", osm_id=2301481101,
    ),
    "corso buenos aires 33, milano": Place(
        "45.4796210", "9.2119880",
        "33, Corso Buenos Aires, Municipio 3, Milano, Lombardia, 20124, Italia", osm_id=4412330017,
    ),
    "rue de rivoli 10, paris": Place(
        "48.8556030", "2.3582050",
        "10, Rue de Rivoli, Quartier Saint-Merri, Paris, Île-de-France, 75004, France",
        osm_id=3114221230, place_type="house",
    ),
}


@dataclass
class FakeNominatim:
    """Answers GET /search?q=...&format=json like Nominatim. `mode` is "ok", "down" (503) or
    "hang" (answers only after `hang_s`, past any sensible client timeout)."""

    places: dict[str, Place] = field(default_factory=lambda: dict(DEFAULT_PLACES))
    mode: str = "ok"
    hang_s: float = 3.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what tests use ----------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def searches(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == "/search"]

    def start(self) -> "FakeNominatim":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                fake._handle(self)

            def log_message(self, format, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = serve_on_thread(self._server, "fake-nominatim")
        return self

    def stop(self) -> None:
        self._release.set()  # let any hanging handler finish
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the server side ---------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(Request(parts.path, query, h.headers.get("User-Agent"), time.monotonic()))
            mode = self.mode
        if mode == "hang":
            self._release.wait(self.hang_s)
        if mode == "down":
            self._send(h, 503, {"error": "Service temporarily unavailable"})
            return
        if parts.path != "/search":
            self._send(h, 404, {"error": "Unknown endpoint"})
            return
        if query.get("format") not in ("json", "jsonv2"):
            self._send(h, 400, {"error": "this fake answers format=json only"})
            return
        key = " ".join(query.get("q", "").casefold().split())
        place = self.places.get(key)
        limit = int(query.get("limit", "10") or 10)
        self._send(h, 200, [self._result(place)][:limit] if place else [])

    @staticmethod
    def _result(p: Place) -> dict:
        lat, lon = float(p.lat), float(p.lon)
        return {
            "place_id": 100000 + p.osm_id % 100000,
            "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
            "osm_type": p.osm_type,
            "osm_id": p.osm_id,
            "lat": p.lat,
            "lon": p.lon,
            "class": p.place_class,
            "type": p.place_type,
            "place_rank": 30,
            "importance": 0.00001,
            "addresstype": p.place_class,
            "name": "",
            "display_name": p.display_name,
            "boundingbox": [f"{lat - 0.0001:.7f}", f"{lat + 0.0001:.7f}", f"{lon - 0.0001:.7f}", f"{lon + 0.0001:.7f}"],
        }

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Access-Control-Allow-Origin", "*")
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)
