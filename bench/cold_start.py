"""Where the main job's cold start goes: `python bench/benchmark.py --cold`.

Side by side, alternating, each on a fresh PREFECT_HOME: Prefect's own floor (`prefect server start`
until `/api/health` answers) and the cold main job (`python -m flow_code.nike_flow`, which runs on
Prefect's temporary server). The main job's time is split by when its log lines arrive.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flow_code.kit.processes import REPO, api_is_healthy, free_port, prefect_command

RUNS = 2
# (log line, the stretch that ends there)
MARKS = (
    ("Starting temporary server", "until Prefect starts its temporary server: the job's and Prefect's server imports"),
    ("Beginning flow run", "the temporary server's start: its imports, the database's migrations"),
    ("product ", "the flow run: pages, prices, history (no heartbeat thread to wait for on this server)"),
    ("exit", "after the table: stopping the temporary server"),
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
        for line in job.stdout:
            for key, _ in MARKS:
                if key in line and key not in marks:
                    marks[key] = time.monotonic() - started
        if job.wait() != 0:
            raise RuntimeError("the cold main job failed")
        marks["exit"] = time.monotonic() - started
        return marks


def cold_rows() -> list[tuple[str, str, str]]:
    floors, jobs = [], []
    for _ in range(RUNS):
        floors.append(floor_seconds())
        jobs.append(main_job_marks())
    floor = statistics.median(floors)
    total = statistics.median(job["exit"] for job in jobs)
    rows = [
        (
            f"cold main job vs `prefect server start` to /api/health, fresh homes, side by side (median of {RUNS})",
            f"{total:.1f} s vs {floor:.1f} s",
            f"{total / floor:.2f}x Prefect's floor",
        )
    ]
    previous = 0.0
    for key, what in MARKS:
        at = statistics.median(job.get(key, float("nan")) for job in jobs)
        rows.append((f"cold main job: {what}", f"{at - previous:.1f} s", f"ends at {at:.1f} s"))
        previous = at
    return rows
