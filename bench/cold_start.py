"""Where the main job's cold start goes: `python bench/benchmark.py --cold`.

Side by side, alternating, each on a fresh PREFECT_HOME: Prefect's own floor (`prefect server start`
until `/api/health` answers) and the cold main job (`python -m flow_code.nike_flow`, which runs on
Prefect's temporary server). The main job's time is split by when its temporary server's process
appears and answers, and when the job's log lines arrive.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flow_code.kit.processes import REPO, api_is_healthy, children, free_port, prefect_command

RUNS = 3
# (mark, the stretch that ends there): the first two from the server's process, the others from log lines
MARKS = (
    ("launched", "until its temporary server's process starts: Python, `prefect` and Prefect's server imports"),
    ("answers", "the temporary server's start (its imports, the database's migrations), to /api/health"),
    ("Beginning flow run", "the flow run's creation on the fresh server"),
    ("product ", "the flow run: pages, prices, history (no heartbeat thread to wait for on this server)"),
    ("exit", "after the table: stopping the temporary server, the interpreter's exit"),
)


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_LOGGING_COLORS": "false"}


def floor_seconds() -> float:
    """`prefect server start` on a fresh home, until its API answers /health."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as home:
        port = free_port()
        env = clean_env(Path(home))
        started = time.monotonic()
        server = subprocess.Popen(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not api_is_healthy(f"http://127.0.0.1:{port}/api", timeout=1):
                if server.poll() is not None:
                    raise RuntimeError("prefect server start exited")
                time.sleep(0.05)
            return time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)


def server_port(parent: int) -> int | None:
    """The port of the uvicorn process (Prefect's temporary server) that `parent` started, if any yet."""
    for child in children(parent):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in command and b"--port" in command:
            return int(command[command.index(b"--port") + 1])
    return None


def watch_server(job: subprocess.Popen, started: float, marks: dict[str, float]) -> None:
    """Mark when the job's temporary server process appears, and when it answers /health."""
    port = None
    while port is None and job.poll() is None:
        port = server_port(job.pid)
        time.sleep(0.02)
    marks["launched"] = time.monotonic() - started
    while job.poll() is None and not api_is_healthy(f"http://127.0.0.1:{port}/api", timeout=1):
        time.sleep(0.05)
    marks["answers"] = time.monotonic() - started


def main_job_marks() -> dict[str, float]:
    """The cold main job: seconds from its start to each mark."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as home:
        marks: dict[str, float] = {}
        started = time.monotonic()
        job = subprocess.Popen(
            [sys.executable, "-m", "flow_code.nike_flow"],
            cwd=REPO,
            env=clean_env(Path(home)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watcher = threading.Thread(target=watch_server, args=(job, started, marks), daemon=True)
        watcher.start()
        for line in job.stdout:
            for key, _ in MARKS:
                if key in line and key not in marks:
                    marks[key] = time.monotonic() - started
        if job.wait() != 0:
            raise RuntimeError("the cold main job failed")
        marks["exit"] = time.monotonic() - started
        watcher.join(timeout=5)
        return marks


def cold_rows() -> list[tuple[str, str, str]]:
    floors, jobs = [], []
    for _ in range(RUNS):
        floors.append(floor_seconds())
        jobs.append(main_job_marks())
    floor = statistics.median(floors)
    total = statistics.median(job["exit"] for job in jobs)
    each = ", ".join(f"{job['exit'] / alone:.2f}x" for job, alone in zip(jobs, floors, strict=True))
    rows = [
        (
            f"cold main job vs `prefect server start` to /api/health, fresh homes, side by side (median of {RUNS})",
            f"{total:.1f} s vs {floor:.1f} s",
            f"{total / floor:.2f}x Prefect's floor (run by run: {each})",
        )
    ]
    previous = 0.0
    for key, what in MARKS:
        at = statistics.median(job.get(key, float("nan")) for job in jobs)
        rows.append((f"cold main job: {what}", f"{at - previous:.1f} s", f"ends at {at:.1f} s"))
        previous = at
    return rows
