"""/metrics adds up every process of a deployment (DEALSVC_METRICS_DIR, prometheus_client's
multiprocess mode), and nothing changes without the setting.

The processes are real: `python -m dealsvc migrate`, gunicorn with deploy/gunicorn.conf.py (3
workers instead of 4, to boot faster on two cores), one `python -m workers.dispatcher` and a standalone FCM emulator, on PostgreSQL.
Requests answered by different workers, and pushes sent by the dispatcher, all show on the
/metrics of whichever worker answers; a worker that exits keeps its counts and loses its live
gauges (gunicorn's child_exit), and so does a dispatcher that stops."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from config import Settings, SettingsError, export_metrics_environment
from dealsvc import observability
from dealsvc.api import service
from dealsvc.app import create_app
from tests.support.production import ROOT, Shape, wait_for

pytestmark = pytest.mark.timeout(120)

HEALTH_REQUESTS = 60
WEB_WORKERS = 3
RESIDENTS = 3
LIVE_GAUGE = "dealsvc_test_live_gauge"


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _scrape(web: str) -> dict:
    r = requests.get(web + "/metrics", timeout=10)  # a new connection: any worker may answer
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return _samples(r.text)


def _per_process(metrics_dir: Path, kind: str = "counter") -> dict[int, dict]:
    """What each process wrote in the directory, read straight from its own file."""
    out = {}
    for path in metrics_dir.glob(f"{kind}_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        out[pid] = {(s.name, frozenset(s.labels.items())): s.value
                    for m in MultiProcessCollector.merge([str(path)]) for s in m.samples}
    return out


def _plant_live_gauge(metrics_dir: Path, pid: int) -> Path:
    """A "livesum" gauge as process `pid` would write it: it must leave the sum when pid exits."""
    path = metrics_dir / f"gauge_livesum_{pid}.db"
    store = MmapedDict(str(path))
    store.write_value(mmap_key(LIVE_GAUGE, LIVE_GAUGE, (), (), "planted by the test"), 1.0, 0.0)
    store.close()
    return path


def _booted_workers(shape: Shape) -> list[int]:
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", shape.log("web"))]


def test_metrics_add_up_every_process_of_the_deployment(pg_url, tmp_path):
    metrics_dir = tmp_path / "metrics"  # stands in for /run/dealsvc-metrics, empty at the deploy
    shape = Shape(pg_url, tmp_path)
    shape.env["DEALSVC_METRICS_DIR"] = str(metrics_dir)
    try:
        migrate = subprocess.run([sys.executable, "-m", "dealsvc", "migrate"], cwd=ROOT, env=shape.env,
                                 capture_output=True, text=True)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        shape.start("emulator", [sys.executable, "-m", "dealsvc.emulator", "--port", str(shape.emulator_port)])
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        shape.start("web", [gunicorn, "--config", "deploy/gunicorn.conf.py", "-b", f"127.0.0.1:{shape.port}",
                            "--workers", str(WEB_WORKERS), "wsgi:app"])
        dispatcher = shape.start("dispatcher", [sys.executable, "-m", "workers.dispatcher"])
        wait_for("every web worker's app", lambda: requests.get(shape.web + "/readyz", timeout=2).ok
                  and shape.log("web").count("dealsvc ready on") >= WEB_WORKERS, 60, shape.procs)
        wait_for("the emulator", lambda: requests.get(shape.emulator + "/api/tokens", timeout=2).ok, 30, shape.procs)
        wait_for("the dispatcher", lambda: "dispatcher ready" in shape.log("dispatcher"), 30, shape.procs)
        workers = _booted_workers(shape)
        assert len(workers) == WEB_WORKERS

        # Requests on new connections, 8 at a time: several workers answer.
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: requests.get(shape.web + "/healthz", timeout=10).status_code,
                                  range(HEALTH_REQUESTS)))
        assert codes == [200] * HEALTH_REQUESTS
        health = {"method": "GET", "route": "/healthz", "status": "200"}
        by_worker = {pid: _value(s, "dealsvc_http_requests_total", **health) for pid, s in _per_process(metrics_dir).items()}
        answered = {pid: n for pid, n in by_worker.items() if n}
        assert set(answered) <= set(workers)
        assert sum(answered.values()) == HEALTH_REQUESTS
        assert len(answered) >= 2, f"one worker answered everything: {answered}"

        # Whichever worker answers /metrics, it reports the total, not its own share.
        for _ in range(8):
            samples = _scrape(shape.web)
            assert _value(samples, "dealsvc_http_requests_total", **health) == HEALTH_REQUESTS
            assert _value(samples, "dealsvc_http_request_seconds_count", method="GET", route="/healthz") == HEALTH_REQUESTS

        # Pushes sent by the dispatcher process, seen through the web tier.
        for i in range(RESIDENTS):
            r = requests.post(shape.web + "/api/v1/subscribers", timeout=10,
                              json={"fcm_token": f"metrics-{i}", "lat": 45.4650, "lon": 9.1900, "radius_m": 800})
            assert r.status_code == 201, r.text
        r = requests.post(shape.web + "/api/v1/subscribers", timeout=10,
                          json={"fcm_token": "unregistered-metrics", "lat": 45.4650, "lon": 9.1900, "radius_m": 800})
        assert r.status_code == 201, r.text
        merchant = requests.post(shape.web + "/api/v1/merchants", json={"name": "Forno", "email": "m@metrics.example"}, timeout=10)
        assert merchant.status_code == 201, merchant.text
        auth = {"Authorization": f"Bearer {merchant.json()['api_key']}"}
        shop = requests.post(shape.web + "/api/v1/shops", headers=auth, timeout=10,
                             json={"name": "Forno", "category": "bakery", "lat": 45.4642, "lon": 9.1900})
        assert shop.status_code == 201, shop.text
        offer = requests.post(shape.web + "/api/v1/offers", headers=auth, timeout=10, json={
            "shop_id": shop.json()["id"], "title": "Pane di ieri", "category": "bakery", "original_price_cents": 400,
            "discount_pct": 50, "quantity": 5, "expires_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(),
        })
        assert offer.status_code == 201, offer.text
        wait_for("the pushes counted on /metrics", lambda: _value(
            _scrape(shape.web), "dealsvc_push_outcomes_total", outcome="sent") >= RESIDENTS, 30, shape.procs)
        received = requests.get(shape.emulator + "/api/messages", timeout=10).json()["items"]
        assert sorted(m["token"] for m in received) == [f"metrics-{i}" for i in range(RESIDENTS)]
        samples = _scrape(shape.web)
        assert _value(samples, "dealsvc_push_outcomes_total", outcome="sent") == RESIDENTS
        assert _value(samples, "dealsvc_push_outcomes_total", outcome="dead_token") == 1
        assert _value(samples, "dealsvc_fanout_match_seconds_count") == 1
        assert _value(samples, "dealsvc_http_requests_total", method="POST", route="/api/v1/subscribers", status="201") == RESIDENTS + 1
        # ... counted by the dispatcher, and by no web worker.
        counters = _per_process(metrics_dir)
        assert _value(counters[dispatcher.pid], "dealsvc_push_outcomes_total", outcome="sent") == RESIDENTS
        assert not any(_value(counters.get(pid, {}), "dealsvc_push_outcomes_total", outcome="sent") for pid in workers)
        assert _value(_per_process(metrics_dir, "histogram")[dispatcher.pid], "dealsvc_fanout_match_seconds_count") == 1

        # A worker that exits (max_requests, HUP, a crash) keeps its counts; its live gauges go.
        victim = max(answered, key=answered.get)
        planted = _plant_live_gauge(metrics_dir, victim)
        assert _value(_scrape(shape.web), LIVE_GAUGE) == 1
        os.kill(victim, signal.SIGTERM)  # a gunicorn worker of ours; the master starts another
        wait_for("the master to reap the worker", lambda: not planted.exists(), 30, shape.procs)
        wait_for("a replacement worker", lambda: len(_booted_workers(shape)) == WEB_WORKERS + 1, 30, shape.procs)
        samples = _scrape(shape.web)
        assert _value(samples, LIVE_GAUGE) == 0
        assert _value(samples, "dealsvc_http_requests_total", **health) == HEALTH_REQUESTS

        # So does a dispatcher that stops.
        planted = _plant_live_gauge(metrics_dir, dispatcher.pid)
        dispatcher.send_signal(signal.SIGTERM)
        assert dispatcher.wait(timeout=30) == 0
        shape.procs = [(n, p) for n, p in shape.procs if p is not dispatcher]
        assert not planted.exists(), "the dispatcher did not mark itself dead"
        assert _value(_scrape(shape.web), "dealsvc_push_outcomes_total", outcome="sent") == RESIDENTS

        for name in ("web", "dispatcher"):
            assert "Traceback" not in shape.log(name), shape.log(name)[-3000:]
    finally:
        shape.stop_all()


# --- without the setting ----------------------------------------------------------------------


def test_without_metrics_dir_metrics_stay_per_process(client, monkeypatch):
    assert Settings.from_env({}).metrics_dir is None
    assert Settings.from_env({"DEALSVC_METRICS_DIR": ""}).metrics_dir is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")  # absent, and put back as it was afterwards
    assert export_metrics_environment(Settings()) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ

    # The process keeps its samples in memory and /metrics is the view it always was, with the
    # per-process collectors (python_info, process_*) that multiprocess mode cannot offer.
    assert not observability.multiprocess_enabled()
    assert client.application.view_functions["service.metrics"] is service.metrics
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert 'dealsvc_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "python_info" in text


def test_metrics_dir_is_checked_and_exported(tmp_path, monkeypatch):
    with pytest.raises(SettingsError, match="absolute"):
        Settings.from_env({"DEALSVC_METRICS_DIR": "var/metrics"})
    target = tmp_path / "deep" / "metrics"
    settings = Settings.from_env({"DEALSVC_METRICS_DIR": str(target)})
    assert settings.metrics_dir == target and not target.exists()  # reading settings writes nothing

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")  # put back as it was afterwards
    assert export_metrics_environment(settings) == target
    assert target.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(target)


def test_an_app_that_cannot_share_its_metrics_does_not_start(container, tmp_path):
    """The setting with prometheus_client already imported in memory mode (this process): the app
    would serve a sum without its own samples, so it refuses to start."""
    with pytest.raises(SettingsError, match="DEALSVC_METRICS_DIR"):
        create_app(container.settings.with_(metrics_dir=tmp_path), container)
