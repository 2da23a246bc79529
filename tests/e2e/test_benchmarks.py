"""Every benchmark in bench/ runs, at a tiny size, as a process: none rots unseen again (bench/match.py
had crashed with `TypeError: unhashable type: 'numpy.ndarray'` since the index's API changed).

The modules are found in the folder, so a new benchmark is covered as soon as it exists: it must
declare `TINY`, its command-line arguments for the smallest run that still goes through every step
("{pg}" stands for the test PostgreSQL), or `SERVER = True` for a helper server that the
benchmarks start (it is started here on a free port and must answer)."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from config import testing
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
TIMEOUT_S = 120


def declared(name: str) -> dict:
    """The module's TINY and SERVER, read from its source (importing it would run nothing, but
    its imports may be heavy)."""
    tree = ast.parse((BENCH / f"{name}.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("TINY", "SERVER"):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def test_the_bench_folder_holds_the_benchmarks_the_readme_cites():
    assert {"api", "expiry", "fanout", "match", "match_pg", "fcm_sink", "transport"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_runs_at_a_tiny_size(name, tmp_path):
    spec = declared(name)
    assert "TINY" in spec or spec.get("SERVER") is True, (
        f"bench/{name}.py declares neither TINY (its arguments for a tiny run) nor SERVER = True"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALSVC_")}
    env["PYTHONPATH"] = str(ROOT)
    if spec.get("SERVER"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 15
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    answer = requests.get(f"http://127.0.0.1:{port}/count", timeout=2)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, f"bench/{name}.py did not listen on --port {port}"
                    time.sleep(0.1)
            assert answer.status_code == 200 and json.loads(answer.text)["accepted"] == 0
            print(f"\nbench/{name}.py: a server, answers GET /count on --port")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return

    argv = list(spec["TINY"])
    if any("{pg}" in a for a in argv):
        pg = testing.test_database_url()
        if pg is None:
            pytest.skip(f"DEALSVC_TEST_DATABASE_URL=none: bench/{name}.py runs on PostgreSQL")
        argv = [a.replace("{pg}", pg) for a in argv]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    took = time.monotonic() - started
    print(f"\n--- bench/{name}.py {' '.join(spec['TINY'])} ({took:.1f} s)\n{done.stdout.strip()}")
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-5000:]
    # Its figures, to the end: every benchmark closes with the target it measures against.
    figures = [line for line in done.stdout.splitlines() if re.search(r"\d", line)]
    assert len(figures) >= 3, done.stdout
    assert re.search(r"(?i)\btarget\b", done.stdout.strip().splitlines()[-1] + "\n" + done.stdout[-600:]), done.stdout
