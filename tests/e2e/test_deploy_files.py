"""The production shape files say what they mean, and what they run works.

`Procfile`, `deploy/gunicorn.conf.py`, `deploy/dealsvc.env.example` and the units in
`deploy/systemd/` are parsed and held to the production shape (external workers, PostgreSQL,
migrate first, hardening, a graceful stop longer than gunicorn's). Then every Procfile command
is started as a Procfile runner starts it (`sh -c`), with the example environment pointed at a
fresh PostgreSQL schema and a standalone FCM emulator: the web answers /readyz, the scheduler
takes the lease, two dispatchers come up and deliver a push, and each process stops with
exit status 0 on SIGTERM within the graceful timeout.
"""
from __future__ import annotations

import os
import re
import runpy
import secrets
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from config import Settings
from config import testing
from tests.support.api import ADMIN_TOKEN, GENEROUS_RATE_LIMITS_ENV
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "dealsvc.env.example"
NGINX_SITE = DEPLOY / "nginx" / "dealsvc.conf"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
LONG_RUNNING = ("dealsvc-web.service", "dealsvc-scheduler.service", "dealsvc-dispatcher@.service")
METRICS_RUNTIME_DIRECTORY = "dealsvc-metrics"  # /run/dealsvc-metrics, DEALSVC_METRICS_DIR


# --- parsing ----------------------------------------------------------------------------------


def procfile() -> dict[str, str]:
    """Process type -> command, as honcho and foreman read it (comments and blanks ignored)."""
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(.+)", line)
        assert match, f"not a Procfile line: {line!r}"
        assert match.group(1) not in processes, f"{match.group(1)} twice"
        processes[match.group(1)] = match.group(2).strip()
    return processes


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> every value given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None and "=" in line, f"{name}: not a unit line: {raw!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        current.setdefault(key, []).append(value)
    return sections


def one(u: dict, section: str, key: str) -> str:
    values = u.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def words(u: dict, section: str, key: str) -> list[str]:
    return [w for value in u.get(section, {}).get(key, []) for w in value.split()]


def env_example() -> dict[str, str]:
    """KEY=value lines, as systemd's EnvironmentFile= reads them."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"not a variable: {line!r}"
        assert not value.startswith(("'", '"')), f"{key}: quotes are read differently by different runners"
        env[key] = value
    return env


def filled_in(env: dict[str, str]) -> dict[str, str]:
    """The example with its secrets filled in, as the operator does (left as the placeholder, they
    stop the start: tests/e2e/test_http_hardening.py)."""
    return {**env, "DEALSVC_ADMIN_TOKEN": "dsa_" + secrets.token_urlsafe(32), "DEALSVC_SECRET_KEY": secrets.token_urlsafe(48)}


def gunicorn_conf() -> dict:
    return runpy.run_path(str(GUNICORN_CONF))


def seconds(value: str) -> float:
    """A systemd time span such as 40, 40s, 1min 30s, 15min."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, suffix in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[suffix]
    return total


# --- the files --------------------------------------------------------------------------------


def test_procfile_runs_web_scheduler_and_dispatcher():
    processes = procfile()
    assert set(processes) == {"web", "scheduler", "dispatcher"}
    web = shlex.split(processes["web"])
    assert web[0] == "gunicorn" and web[-1] == "wsgi:app"
    assert web[web.index("--config") + 1] == "deploy/gunicorn.conf.py"
    assert web[web.index("--bind") + 1] == "127.0.0.1:${PORT:-8000}", "the runner's $PORT, 8000 without one, on loopback only"
    assert "--preload" not in web
    assert processes["scheduler"] == "python -m workers.scheduler"
    assert processes["dispatcher"] == "python -m workers.dispatcher"


def test_gunicorn_runs_several_workers_and_stops_gracefully():
    conf = gunicorn_conf()
    assert conf["workers"] >= 2 and conf["threads"] >= 1
    assert 10 <= conf["graceful_timeout"] <= 60
    assert not conf.get("preload_app"), "forked workers would share the database pool"
    # No query strings in the access log: where a resident stands, an FCM token.
    assert "%(U)s" in conf["access_log_format"]
    assert not {"%(r)s", "%(q)s", "%(f)s"} & set(re.findall(r"%\(\w+\)s", conf["access_log_format"]))
    assert conf["logconfig_dict"]["root"]["handlers"], "the application's own log lines must go somewhere"
    # Multiprocess metrics: the master tells prometheus_client when a worker is gone, and never
    # empties the directory itself (the dispatchers and the scheduler write there too).
    assert callable(conf.get("child_exit"))
    assert "on_starting" not in conf


def test_env_example_is_a_production_configuration():
    env = env_example()
    assert {
        "DEALSVC_DATABASE_URL", "DEALSVC_WORKERS", "DEALSVC_AUTO_MIGRATE", "DEALSVC_ADMIN_TOKEN",
        "DEALSVC_FCM_CREDENTIALS", "DEALSVC_REDIS_URL",
    } <= set(env)
    settings = Settings.from_env(filled_in(env))  # every value is one the service accepts
    assert settings.database_url.startswith("postgresql://")
    assert settings.workers == "external"
    assert settings.auto_migrate is False
    assert settings.admin_token
    assert settings.fcm_credentials and not settings.emulator_enabled, "never the per-process built-in emulator"
    assert settings.redis_url
    # Every process's Prometheus samples in the directory dealsvc-migrate.service makes empty.
    assert settings.metrics_dir is not None
    assert str(settings.metrics_dir) == "/run/" + one(unit("dealsvc-migrate.service"), "Service", "RuntimeDirectory")


def test_units_are_hardened_and_run_what_the_procfile_runs():
    processes = procfile()
    graceful = gunicorn_conf()["graceful_timeout"]
    expected = {
        "dealsvc-web.service": shlex.split(processes["web"]),
        "dealsvc-scheduler.service": shlex.split(processes["scheduler"]),
        "dealsvc-dispatcher@.service": shlex.split(processes["dispatcher"]),
        "dealsvc-migrate.service": ["python", "-m", "dealsvc", "migrate"],
    }
    for name, command in expected.items():
        u = unit(name)
        service = u["Service"]
        workdir = one(u, "Service", "WorkingDirectory")
        assert one(u, "Service", "User") not in ("", "root") and one(u, "Service", "Group")
        assert one(u, "Service", "EnvironmentFile") == "/etc/dealsvc/dealsvc.env"
        for key, value in {
            "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
            "RestrictNamespaces": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
        }.items():
            assert service.get(key) == [value], f"{name}: {key}={service.get(key)}"
        assert set(words(u, "Service", "RestrictAddressFamilies")) == {"AF_UNIX", "AF_INET", "AF_INET6"}
        assert one(u, "Unit", "PartOf") == "dealsvc.target"

        # ExecStart is the Procfile's command, with the virtual environment's programs.
        argv = shlex.split(one(u, "Service", "ExecStart"))
        assert argv[0] == f"{workdir}/.venv/bin/{command[0]}", argv[0]
        if "--bind" in command:
            i = command.index("--bind")
            assert argv[:i + 1][1:] == command[1:i + 1] and argv[i + 2:] == command[i + 2:], argv
        else:
            assert argv[1:] == command[1:], argv

        if name == "dealsvc-migrate.service":
            assert one(u, "Service", "Type") == "oneshot" and one(u, "Service", "RemainAfterExit") == "yes"
            # The metrics directory lives as long as this unit: empty at each deploy, before the others start.
            assert one(u, "Service", "RuntimeDirectory") == METRICS_RUNTIME_DIRECTORY
            assert "RuntimeDirectoryPreserve" not in service
            assert "Restart" not in service
            continue
        # Long-running: after the schema is up to date, restarted when they fail, and given
        # longer than gunicorn's graceful timeout to stop.
        assert "dealsvc-migrate.service" in words(u, "Unit", "Requires")
        assert "dealsvc-migrate.service" in words(u, "Unit", "After")
        assert one(u, "Service", "Restart") == "on-failure"
        assert one(u, "Service", "KillSignal") == "SIGTERM"
        assert seconds(one(u, "Service", "TimeoutStopSec")) > graceful
        if name == "dealsvc-web.service":
            assert one(u, "Service", "Type") == "notify"  # gunicorn sends READY=1
            assert one(u, "Service", "KillMode") == "mixed"  # SIGTERM to the master, which drains its workers
            # The pages' session key, and the Prometheus samples.
            assert words(u, "Service", "ReadWritePaths") == [f"{workdir}/var", f"/run/{METRICS_RUNTIME_DIRECTORY}"]
        else:
            # Workers write nothing on disk: only their Prometheus samples, in /run (memory).
            assert words(u, "Service", "ReadWritePaths") == [f"/run/{METRICS_RUNTIME_DIRECTORY}"]
        assert "RuntimeDirectory" not in service, "stopping this unit would erase every process's samples"
    assert "%i" in one(unit("dealsvc-dispatcher@.service"), "Service", "SyslogIdentifier")

    target = unit("dealsvc.target")
    wanted = words(target, "Unit", "Wants")
    assert {"dealsvc-migrate.service", "dealsvc-web.service", "dealsvc-scheduler.service"} <= set(wanted)
    assert len([w for w in wanted if re.fullmatch(r"dealsvc-dispatcher@\d+\.service", w)]) >= 2

    emulator = unit("dealsvc-fcm-emulator.service")
    argv = shlex.split(one(emulator, "Service", "ExecStart"))
    assert argv[1:4] == ["-m", "dealsvc.emulator", "--host"] and argv[4] == "127.0.0.1"
    assert "dealsvc-fcm-emulator.service" not in wanted, "staging only"


def nginx_directives(text: str) -> dict[str, list[str]]:
    """Directive -> every value it is given in the file (comments dropped, blocks flattened)."""
    found: dict[str, list[str]] = {}
    body = re.sub(r"#[^\n]*", "", text)
    for match in re.finditer(r"([a-z_]+)\s+((?:'[^']*'|[^;{}'])*);", body):
        found.setdefault(match.group(1), []).append(" ".join(match.group(2).split()))
    return found


def test_nginx_buffers_clients_in_front_of_gunicorn_on_loopback():
    """deploy/nginx/dealsvc.conf: the proxy tests/e2e/test_production_shape.py starts in front of gunicorn."""
    conf = nginx_directives(NGINX_SITE.read_text())
    web_bind = shlex.split(one(unit("dealsvc-web.service"), "Service", "ExecStart"))
    bind = web_bind[web_bind.index("--bind") + 1]
    assert bind == "127.0.0.1:8000", "gunicorn on loopback only, behind the proxy"
    assert conf["server"] == [bind], "the proxy sends to where the web unit listens"
    assert set(conf["proxy_pass"]) == {"http://dealsvc"} and re.search(r"upstream dealsvc\s*\{", NGINX_SITE.read_text())
    # Slow clients wait in nginx, which hands gunicorn whole requests only.
    assert set(conf["proxy_request_buffering"]) == {"on"} and set(conf["proxy_buffering"]) == {"on"}
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert seconds(conf[timeout][0]) <= 30, f"{timeout} {conf[timeout]}"
    # The body limits are the service's own: JSON bodies everywhere, photos on the routes that take one.
    limits = [int(size[:-1]) * {"k": 1024, "m": 1024 * 1024}[size[-1].lower()] if size[-1].isalpha() else int(size)
              for size in conf["client_max_body_size"]]
    settings = Settings.from_env(filled_in(env_example()))
    assert limits == [settings.max_request_bytes, settings.max_upload_bytes]
    assert re.search(r"location ~ \^/\(api/v1/offers/\[\^/\]\+/photo\|shop/offers\)\$", NGINX_SITE.read_text())
    # The client's address and scheme, which the service believes from exactly one proxy.
    headers = {v.split(None, 1)[0].lower(): v.split(None, 1)[1] for v in conf["proxy_set_header"]}
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert env_example()["DEALSVC_TRUSTED_PROXIES"] == "1"
    # nginx's own 413 and 5xx answers in the service's format.
    assert "application/problem+json" in conf["default_type"]


# --- the processes ----------------------------------------------------------------------------


class Process:
    def __init__(self, name: str, command: str, env: dict[str, str], log_path: Path):
        self.name, self.log_path = name, log_path
        with open(log_path, "wb") as log:
            # As honcho and foreman run a Procfile line; exec, so the signal reaches the program.
            self.proc = subprocess.Popen(
                ["sh", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait(what: str, check, processes: list[Process], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        for p in processes:
            assert p.proc.poll() is None, f"{p.name} exited with {p.proc.returncode} while waiting for {what}:\n{p.log()}"
        try:
            if check():
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in processes)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


@pytest.mark.slow
def test_procfile_processes_come_up_and_stop_cleanly_on_sigterm(pg_url, tmp_path):
    database_url = pg_url  # the production shape is PostgreSQL (deploy/dealsvc.env.example)
    port, emulator_port = free_port(), free_port()
    emulator = f"http://127.0.0.1:{emulator_port}/emulator"
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **filled_in(env_example()),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "DEALSVC_DATABASE_URL": database_url,
        "DEALSVC_ADMIN_TOKEN": ADMIN_TOKEN,
        "DEALSVC_GEOCODER": "none",
        # Staging's shape: one standalone emulator instead of Google.
        "DEALSVC_FCM_CREDENTIALS": "",
        "DEALSVC_FCM_ENDPOINT": f"{emulator}/fcm",
        "DEALSVC_FCM_PROJECT_ID": "dealsvc-deploy-test",
        "DEALSVC_TRUSTED_PROXIES": "0",
        "DEALSVC_RATE_LIMIT_KEY_PREFIX": f"deploy-test-{secrets.token_hex(4)}",
        # systemd's RuntimeDirectory= stands in: a fresh, empty directory for this deployment.
        "DEALSVC_METRICS_DIR": str(tmp_path / "metrics"),
        **GENEROUS_RATE_LIMITS_ENV,
    }
    redis_url = testing.test_redis_url()
    if redis_url:
        env["DEALSVC_REDIS_URL"] = redis_url
    else:
        env.pop("DEALSVC_REDIS_URL", None)

    # dealsvc-migrate.service first, as the units order it.
    migrate = shlex.split(one(unit("dealsvc-migrate.service"), "Service", "ExecStart"))
    done = subprocess.run([Path(migrate[0]).name, *migrate[1:]], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

    commands = procfile()
    started: list[Process] = []
    try:
        started.append(Process("emulator", f"python -m dealsvc.emulator --host 127.0.0.1 --port {emulator_port}",
                               env, tmp_path / "emulator.log"))
        web = Process("web", commands["web"], env, tmp_path / "web.log")
        scheduler = Process("scheduler", commands["scheduler"], env, tmp_path / "scheduler.log")
        dispatchers = [Process(f"dispatcher.{i}", commands["dispatcher"], env, tmp_path / f"dispatcher.{i}.log") for i in (1, 2)]
        started += [web, scheduler, *dispatchers]

        base = f"http://127.0.0.1:{port}"
        workers = gunicorn_conf()["workers"]
        _wait("the web to answer /readyz with every worker's app built",
              lambda: requests.get(f"{base}/readyz", timeout=2).status_code == 200
              and web.log().count("dealsvc ready on") >= workers, started, 90)
        _wait("the emulator", lambda: requests.get(f"http://127.0.0.1:{emulator_port}/healthz", timeout=2).ok, started)
        _wait("the scheduler to take the lease", lambda: "scheduler elected" in scheduler.log(), started, 30)
        for d in dispatchers:
            _wait(f"{d.name} to start", lambda d=d: "dispatcher started" in d.log(), started, 30)
        assert "scheduler started" in scheduler.log()
        assert requests.get(f"{base}/api/v1/admin/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                            timeout=5).status_code == 200

        # One push through the whole shape: web -> PostgreSQL -> a dispatcher -> the emulator.
        token = f"deploy-{secrets.token_hex(6)}"
        r = requests.post(f"{base}/api/v1/subscribers", timeout=10,
                          json={"fcm_token": token, "lat": 45.4650, "lon": 9.1900, "radius_m": 800})
        assert r.status_code == 201, r.text
        r = requests.post(f"{base}/api/v1/merchants", timeout=10,
                          json={"name": "Forno Rossi", "email": f"{token}@shop.example"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['api_key']}"}
        r = requests.post(f"{base}/api/v1/shops", headers=auth, timeout=10,
                          json={"name": "Forno Rossi", "category": "bakery", "lat": 45.4642, "lon": 9.1900})
        assert r.status_code == 201, r.text
        expires = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        r = requests.post(f"{base}/api/v1/offers", headers=auth, timeout=10, json={
            "shop_id": r.json()["id"], "title": "Pane di ieri", "category": "bakery",
            "original_price_cents": 400, "discount_pct": 50, "quantity": 5, "expires_at": expires,
        })
        assert r.status_code == 201, r.text
        offer_id = r.json()["id"]

        def delivered():
            items = requests.get(f"{emulator}/api/messages", params={"token": token}, timeout=5).json()["items"]
            return [m for m in items if m["message"].get("data", {}).get("offer_id") == offer_id]

        _wait("the push at the standalone emulator", delivered, started, 60)
        assert len(delivered()) == 1
        # Sent by a dispatcher process, counted on the web tier's /metrics (once it has recorded it).
        _wait("the push counted on the web tier's /metrics",
              lambda: 'dealsvc_push_outcomes_total{outcome="sent"} 1.0' in requests.get(f"{base}/metrics", timeout=5).text,
              started, 30)

        # SIGTERM to every process at once, as systemd or the Procfile runner stops them.
        graceful = gunicorn_conf()["graceful_timeout"]
        for p in started:
            p.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        for p in started:
            try:
                code = p.proc.wait(timeout=max(0.1, stopped_at + graceful - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{p.name} still running {graceful} s after SIGTERM:\n{p.log()[-3000:]}")
            assert code == 0, f"{p.name} exited with {code}:\n{p.log()[-3000:]}"
        took = time.monotonic() - stopped_at
        print(f"\nevery process stopped {took:.1f} s after SIGTERM (graceful timeout {graceful} s)")
        assert "Shutting down: Master" in web.log()
        assert "scheduler stopped" in scheduler.log()
        for d in dispatchers:
            assert "dispatcher stopped" in d.log()
        for p in started:
            assert "Traceback" not in p.log(), f"{p.name}:\n{p.log()[-3000:]}"
    finally:
        for p in started:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait(timeout=30)
