"""`python -m dealsvc.emulator --host 127.0.0.1 --port 9099`: the FCM emulator on its own."""
from __future__ import annotations

import argparse
import logging
import signal

from werkzeug.serving import make_server

from . import RedactingRequestHandler, make_app


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dealsvc.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--project", default="dealsvc-dev", help="only used in the printed URLs")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = make_server(args.host, args.port, make_app(), threaded=True, request_handler=RedactingRequestHandler)
    base = f"http://{args.host}:{server.port}/emulator"
    print(
        "\n".join(
            [
                "",
                "FCM emulator",
                f"  FCM endpoint (DEALSVC_FCM_ENDPOINT): {base}/fcm",
                f"  send URL:  {base}/fcm/v1/projects/{args.project}/messages:send",
                f"  received:  {base}/api/messages   tokens: {base}/api/tokens   faults: POST {base}/api/faults",
                "  token prefixes: unregistered- invalid- mismatch- unavailable-once- quota- internal-",
                "",
            ]
        ),
        flush=True,
    )
    # SIGTERM (systemd, a Procfile runner) stops it as Ctrl-C does: exit status 0, not a kill.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
