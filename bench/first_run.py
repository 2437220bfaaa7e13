"""A newcomer's first run, fresh clone to the main job's table: `python bench/benchmark.py --first-run`.

The repo's files (what a clone of this tree has: tracked and new, not ignored) are copied to a new folder,
and `make demo` runs there with empty package caches: once with only Python and pip on PATH, once with
uv on PATH too. Each row splits the time: installing (pip putting uv into .venv, then uv installing the
main job's packages) and the main job itself (a cold start: a fresh Prefect home).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flow_code.kit.processes import REPO


def copy_of_the_repo(folder: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = folder / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return folder


def path_without_uv() -> str:
    return os.pathsep.join(
        folder for folder in os.environ.get("PATH", "").split(os.pathsep) if folder and not Path(folder, "uv").exists()
    )


def a_uv_binary(folder: Path) -> Path:
    """The pinned uv, put into `folder` with pip (not timed): the 'uv on PATH' case."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(folder)]
        + ["-c", str(REPO / "requirements.txt"), "uv"],
        check=True,
    )
    return folder / "bin"


def first_run(with_uv: bool) -> dict[str, float]:
    """`make demo` in a fresh copy; seconds until uv is in .venv, until the packages are in, and until the end."""
    with tempfile.TemporaryDirectory(prefix="bench-first-run-") as scratch:
        clone = copy_of_the_repo(Path(scratch) / "clone")
        path = path_without_uv()
        if with_uv:
            path = f"{a_uv_binary(Path(scratch) / 'uv')}{os.pathsep}{path}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIRTUAL_ENV", "UV_", "PIP_"))}
        env.update(PATH=path, PIP_NO_CACHE_DIR="1", UV_NO_CACHE="1", HOME=str(Path(scratch) / "home"))
        marks: dict[str, float] = {}
        started = time.monotonic()
        done = threading.Event()

        def watch() -> None:
            venv = clone / ".venv"
            while not done.is_set():
                now = time.monotonic() - started
                if "uv" not in marks and (venv / "bin" / "uv").exists():
                    marks["uv"] = now
                if "installed" not in marks and any(venv.glob(".demo-*")):
                    marks["installed"] = now
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        result = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True)
        marks["table"] = time.monotonic() - started
        done.set()
        watcher.join()
        if result.returncode != 0 or "product" not in result.stdout:
            raise RuntimeError(f"make demo failed in a fresh copy:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return marks


def first_run_rows() -> list[tuple[str, str, str]]:
    rows = []
    for with_uv in (False, True):
        marks = first_run(with_uv)
        installed, table = marks["installed"], marks["table"]
        how = f"pip put uv in .venv at {marks['uv']:.0f} s," if "uv" in marks else "uv from PATH:"
        tools = "uv on PATH" if with_uv else "Python and pip only"
        rows.append(
            (
                f"fresh clone to the main job's table (`make demo`): {tools}",
                f"{table:.1f} s",
                f"{how} packages in at {installed:.0f} s; the main job (cold) {table - installed:.0f} s",
            )
        )
    return rows
