"""What `make run` starts: one process with the API, the embedded dispatcher and scheduler,
and the built-in FCM emulator — an offer posted over HTTP reaches a phone's inbox."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_embedded_default_delivers_a_push_to_the_emulator(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALSVC_")}
    env.update(
        DEALSVC_PORT=str(port),
        DEALSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'dealsvc.db'}",
        DEALSVC_GEOCODER="none",
    )
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "dealsvc", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)

        banner = (tmp_path / "server.log").read_text()
        assert f"API docs:       {base}/api/docs" in banner
        assert "operator token: dsa_" in banner

        key = requests.post(f"{base}/api/v1/merchants", json={"name": "Forno", "email": "f@shop.example"}).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        shop = requests.post(f"{base}/api/v1/shops", json={"name": "Forno", "category": "bakery", "lat": 45.4642, "lon": 9.19}, headers=auth).json()
        requests.post(f"{base}/api/v1/subscribers", json={"fcm_token": "phone-near", "lat": 45.466, "lon": 9.19, "radius_m": 800})
        requests.post(f"{base}/api/v1/subscribers", json={"fcm_token": "phone-far", "lat": 45.50, "lon": 9.19, "radius_m": 800})
        expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        offer = requests.post(
            f"{base}/api/v1/offers",
            json={"shop_id": shop["id"], "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
                  "discount_pct": 50, "quantity": 6, "expires_at": expires},
            headers=auth,
        ).json()

        deadline = time.monotonic() + 20
        while not (items := requests.get(f"{base}/emulator/api/messages", params={"token": "phone-near"}).json()["items"]):
            assert time.monotonic() < deadline, "no push arrived"
            time.sleep(0.2)
        assert items[0]["message"]["data"]["offer_id"] == offer["id"]
        assert requests.get(f"{base}/emulator/api/messages", params={"token": "phone-far"}).json()["items"] == []
        assert "phone-near" not in (tmp_path / "server.log").read_text()  # tokens stay out of logs
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # Stopping is clean too: the embedded workers shut down without a traceback.
    assert "Traceback" not in (tmp_path / "server.log").read_text()
