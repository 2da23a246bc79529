"""The built-in FCM emulator shows every token and push and takes faults: it is served only where
nothing outside the machine reaches it (embedded workers on a loopback address, and to loopback
clients), unless DEALSVC_EMULATOR=on asks for it; each start says whether and where. A process
that would push with no FCM setting and no emulator stops at start, in one line, instead of
failing every push unseen."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import Settings, SettingsError
from dealsvc.app import create_app

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}
PATHS = ("/emulator/api/tokens", "/emulator/", "/emulator/inbox.json", "/emulator/api/web-clients/tok-1/messages")


def _served(app, environ_base=None) -> dict[str, int]:
    client = app.test_client()
    return {path: client.get(path, environ_base=environ_base or {}).status_code for path in PATHS}


@pytest.mark.parametrize("changes", [
    {"workers": "external"},                                   # the production shape
    {"host": "0.0.0.0"},                                       # make run on every interface
    {"host": "192.0.2.10"},
    {"emulator": "off"},
], ids=["external", "all-interfaces", "lan-address", "off"])
def test_the_emulator_is_not_served_beyond_loopback_unless_asked(settings, changes, caplog):
    caplog.set_level(logging.INFO, logger="dealsvc")
    app = create_app(settings.with_(**changes), start_workers=False)
    assert set(_served(app).values()) == {404}, _served(app)
    assert "fcm-emulator" not in app.extensions
    assert "FCM emulator not served" in caplog.text


def test_by_default_it_is_served_on_loopback_to_loopback_clients_only(settings, caplog):
    caplog.set_level(logging.INFO, logger="dealsvc")
    app = create_app(settings, start_workers=False)  # make run: embedded, 127.0.0.1, no FCM setting
    assert set(_served(app).values()) == {200}
    # A client a local reverse proxy forwards (or any other address) is not on this machine.
    assert set(_served(app, OUTSIDE).values()) == {404}
    assert "FCM emulator served at /emulator/ to loopback clients only" in caplog.text


def test_behind_a_trusted_proxy_the_forwarded_client_decides(settings):
    app = create_app(settings.with_(trusted_proxies=1), start_workers=False)
    client = app.test_client()
    assert client.get("/emulator/api/tokens", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert client.get("/emulator/api/tokens", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_dealsvc_emulator_on_serves_it_to_anyone_and_says_so(settings, caplog):
    caplog.set_level(logging.INFO, logger="dealsvc")
    app = create_app(settings.with_(emulator="on", workers="external", host="0.0.0.0"), start_workers=False)
    assert set(_served(app, OUTSIDE).values()) == {200}
    assert "FCM emulator served at /emulator/ to ANY client" in caplog.text
    assert settings.with_(emulator="on", host="0.0.0.0").fcm_base_url.startswith("http://127.0.0.1:")


def test_the_setting_is_checked():
    assert Settings.from_env({}).emulator == "auto"
    assert Settings.from_env({"DEALSVC_EMULATOR": "ON"}).emulator == "on"
    with pytest.raises(SettingsError, match="DEALSVC_EMULATOR"):
        Settings.from_env({"DEALSVC_EMULATOR": "yes-please"})
    with pytest.raises(SettingsError, match="DEALSVC_FCM_ENDPOINT"):
        Settings.from_env({"DEALSVC_EMULATOR": "on", "DEALSVC_FCM_ENDPOINT": "http://127.0.0.1:9099/emulator/fcm"})


def test_embedded_workers_with_nowhere_to_push_stop_the_start(settings):
    with pytest.raises(SettingsError, match="DEALSVC_FCM_CREDENTIALS"):
        create_app(settings.with_(host="0.0.0.0"), start_workers=True)


def _run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEALSVC_")}
    base.update(DEALSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'dealsvc.db'}", DEALSVC_GEOCODER="none", **env)
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("argv, env", [
    (["workers.dispatcher"], {"DEALSVC_WORKERS": "external"}),
    (["dealsvc", "run"], {"DEALSVC_HOST": "0.0.0.0", "DEALSVC_PORT": "0"}),
], ids=["external-dispatcher", "make-run-on-all-interfaces"])
def test_a_process_that_would_push_nowhere_says_so_in_one_line_and_stops(argv, env, tmp_path):
    done = _run(argv, tmp_path, **env)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    print(f"\n{' '.join(argv)}: exit {done.returncode}: {lines}")
    assert done.returncode != 0
    assert len(lines) == 1, lines
    assert "no FCM is configured" in lines[0] and "DEALSVC_EMULATOR=on" in lines[0]
    assert not (tmp_path / "dealsvc.db").exists(), "nothing is migrated before the check"
