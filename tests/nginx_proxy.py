"""Debian's nginx with the shipped site config (deploy/nginx/dealsvc.conf) as an unprivileged
process of a test: only the listen port, the upstream's port and the log paths are changed, and a
minimal main configuration around it gives nginx a prefix, a pid file and temporary directories
of its own (`nginx -p <dir> -c <conf> -g 'daemon off;'`)."""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "dealsvc.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:  # .ci/run installs it: a missing nginx is a failure, not a skip
        raise AssertionError("nginx is not installed (Debian: apt-get install nginx; .ci/run does it)")
    return found


def render_site(port: int, upstream_port: int, logs: Path) -> str:
    """The shipped site with this test's port, upstream and log files, nothing else changed."""
    text = SITE.read_text()
    replacements = [
        (r"(?m)^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{port};"),
        (r"(?m)^\s*listen \[::\]:80;\n", ""),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        (r"/var/log/nginx/dealsvc\.access\.log", str(logs / "access.log")),
        (r"/var/log/nginx/dealsvc\.error\.log", str(logs / "error.log")),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"deploy/nginx/dealsvc.conf no longer has exactly one match of {pattern!r}"
    return text


def _main_conf(prefix: Path, site: Path) -> str:
    # Run as root (CI), the master would hand its workers to "nobody", who cannot use this
    # test's directories: keep them as the user running the test.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  default_type application/octet-stream;\n"
        f"  client_body_temp_path {prefix}/client_body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        f"  include {site};\n"
        "}\n"
    )


class Nginx:
    def __init__(self, prefix: Path, port: int, proc: subprocess.Popen):
        self.prefix, self.port, self.proc = prefix, port, proc
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return "\n".join(
            (self.prefix / name).read_text(errors="replace")
            for name in ("nginx.out", "error.log") if (self.prefix / name).exists()
        )


@contextmanager
def nginx_in_front_of(upstream_port: int, prefix: Path) -> Iterator[Nginx]:
    """nginx on a free port of 127.0.0.1, proxying to gunicorn on upstream_port; stopped after."""
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = prefix / "dealsvc.conf"
    site.write_text(render_site(port, upstream_port, prefix))
    conf = prefix / "nginx.conf"
    conf.write_text(_main_conf(prefix, site))
    binary = nginx_binary()
    check = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    with open(prefix / "nginx.out", "wb") as out:
        proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                                stdout=out, stderr=subprocess.STDOUT)
    nginx = Nginx(prefix, port, proc)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, f"nginx exited with {proc.returncode}:\n{nginx.log()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nginx did not listen:\n{nginx.log()}"
                time.sleep(0.05)
        yield nginx
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
