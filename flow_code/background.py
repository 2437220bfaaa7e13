"""Start a long-running command (a Prefect server, worker or `serve` process) and stop it again.

Notebooks use this instead of `!prefect worker start`, which would block the kernel forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def prefect_command(*args: str) -> list[str]:
    """The `prefect` CLI of this interpreter's environment."""
    return [sys.executable, "-m", "prefect", *args]


def wait_until(ready: Callable[[], bool], timeout: float, still_starting: Callable[[], bool] = lambda: True) -> bool:
    """Poll `ready()` until it is true (True), or `timeout` passes or `still_starting()` is false (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and still_starting():
        if ready():
            return True
        time.sleep(0.2)
    return False


class BackgroundProcess:
    """A command running in its own process group, its output in a log file."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str | None] | None = None,
        cwd: str | Path = REPO,
        log_path: str | Path | None = None,
    ):
        """`env` is added to this process's environment; a value of None removes that variable."""
        self.command = command
        environment = {**os.environ, **(env or {})}
        self.log_path = Path(log_path or tempfile.mkstemp(prefix="kit-process-", suffix=".log")[1])
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env={k: v for k, v in environment.items() if v is not None},
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        """Stop the command and everything it started (SIGTERM, then SIGKILL)."""
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<BackgroundProcess {' '.join(self.command[2:5])} ... {state}>"
