"""Benchmarks: each prints its figures next to the obvious alternative, measured in the same run.

What several of them share lives here: free ports, waiting for a listener, the CPU and memory of
a process read from /proc, and the FCM stand-in they send to (Debian's nginx over TLS + HTTP/2)."""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
# The module nginx answers after a delay with (Debian's libnginx-mod-http-echo, `echo_sleep`).
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_s(pid: int, with_children: bool = False) -> float:
    """User plus system CPU of a process (all its threads) so far, and of its children (nginx's
    master and worker) if asked; 0 for a process that is gone."""
    total = 0.0
    for p in [pid, *(children(pid) if with_children else ())]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * TICK_S
    return total


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for the run: (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class NginxFcm:
    """Debian's nginx as FCM: every POST answered with FCM's 200 over TLS + HTTP/2, at once or
    after `delay_ms` (as FCM answers from a data centre), run as this user in `folder`. After
    `keepalive_requests` on one connection it closes it (HTTP/2: a GOAWAY). Each request is one
    line "<connection number> <protocol> <answered at, Unix s> <seconds taken>" in `folder`/access.log,
    so `accepted()` counts them."""

    def __init__(self, folder: Path, project: str, delay_ms: int = 0, keepalive_requests: int = 100_000):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        folder.mkdir(parents=True, exist_ok=True)
        self.ca, key = certificate(folder)
        port = free_port()
        self.log = folder / "access.log"
        self.delay_ms = delay_ms
        answer = f'{{"name": "projects/{project}/messages/0:1700000000000000%31bd1c9631bd1c96"}}'
        if delay_ms:
            if not ECHO_MODULE.exists():
                raise SystemExit(f"a delayed FCM stand-in needs {ECHO_MODULE} (Debian: libnginx-mod-http-echo)")
            head = f"load_module {ECHO_MODULE};\n"
            body = f"      echo_sleep {delay_ms / 1000:.3f};\n      echo '{answer}';\n"
        else:
            head, body = "", f"      return 200 '{answer}';\n"
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = folder / "nginx.conf"
        conf.write_text(
            f"{head}{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
            f"  fastcgi_temp_path {folder}/fastcgi;\n  uwsgi_temp_path {folder}/uwsgi;\n  scgi_temp_path {folder}/scgi;\n"
            "  log_format conn '$connection $server_protocol $msec $request_time';\n"
            f"  access_log {folder}/access.log conn buffer=64k flush=100ms;\n"
            f"  keepalive_requests {keepalive_requests};\n  http2_max_concurrent_streams 128;\n"
            f"  server {{\n    listen 127.0.0.1:{port} ssl http2;\n"
            f"    ssl_certificate {self.ca};\n    ssl_certificate_key {key};\n"
            f"    location / {{\n      default_type application/json;\n{body}"
            "    }\n  }\n}\n"
        )
        self._out = open(folder / "nginx.out", "wb")
        self.process = subprocess.Popen([binary, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                                        stdout=self._out, stderr=subprocess.STDOUT)
        wait_port(port)
        self.endpoint = f"https://127.0.0.1:{port}"
        self._counted = 0
        self._read = 0

    def accepted(self) -> int:
        """Requests answered so far (as logged; the log is flushed every 100 ms)."""
        try:
            with open(self.log, "rb") as log:
                log.seek(self._read)
                chunk = log.read()
        except FileNotFoundError:
            return 0
        self._read += len(chunk)
        self._counted += chunk.count(b"\n")
        return self._counted

    def cpu_s(self) -> float:
        return cpu_s(self.process.pid, with_children=True)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._out.close()
