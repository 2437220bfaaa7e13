"""Long-running commands (Prefect servers, workers, `serve`, PostgreSQL) that never outlive the kit.

    with PrefectServer() as server:            # `prefect server start` on loopback, waited for
        os.environ["PREFECT_API_URL"] = server.api_url
    with BackgroundProcess(prefect_command("worker", "start", "--pool", "demo")) as worker:
        ...

Every command runs under a small supervisor (`python -m flow_code.kit.processes`, this file) in a
process group of its own. The supervisor stops the command and everything it started (also what
left the group, such as the flow-run processes a worker starts in sessions of their own) when:
- `.stop()` is called, or the `with` block ends, normally or on an exception;
- the process that started it exits: normally, on SIGTERM/SIGINT, on a crash or a kernel restart,
  even on SIGKILL (the supervisor watches that process, not a pipe or a signal);
and then removes the temporary folders it was given (a Prefect home, a PostgreSQL cluster).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 10.0


def prefect_command(*args: str) -> list[str]:
    """The `prefect` CLI of this interpreter's environment."""
    return [sys.executable, "-m", "prefect", *args]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, below the range the OS hands out for port 0.

    Demo shops, receivers and clients bind port 0 all the time; a probed port from that range could be
    handed to one of them before our server binds it.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = random.randrange(20000, max(low, 20001))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


def wait_until(ready: Callable[[], bool], timeout: float, still_starting: Callable[[], bool] = lambda: True) -> bool:
    """Poll `ready()` until it is true (True), or `timeout` passes or `still_starting()` is false (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and still_starting():
        if ready():
            return True
        time.sleep(0.2)
    return False


def api_is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Does a Prefect API answer `/health` at `api_url`?"""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


_started: list[BackgroundProcess] = []


def _stop_all_started() -> None:
    for process in list(_started):
        process.stop()


atexit.register(_stop_all_started)


def exit_on_sigterm() -> None:
    """SIGTERM ends Python without running `atexit`; make it a normal exit, where nobody else handles it."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and _in_main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class BackgroundProcess:
    """A command running under the kit's supervisor, in a process group of its own, its output in a log file.

    Started by the constructor; `wait_until_ready(check)` waits for it or raises with its log's last lines.
    """

    def __init__(
        self,
        command: list[str],
        env: dict[str, str | None] | None = None,
        cwd: str | Path = REPO,
        log_path: str | Path | None = None,
        remove_on_stop: list[str | Path] = (),
        owner_pid: int | None = None,
    ):
        """`env` is added to this process's environment (a value of None removes that variable).

        `owner_pid`: the process whose end stops this one (default: this process). `remove_on_stop`:
        folders the supervisor deletes once the command and all it started are gone.
        """
        self.command = command
        environment = {**os.environ, **(env or {})}
        self.remove_on_stop = [Path(path) for path in remove_on_stop]
        if log_path is None:
            descriptor, log_path = tempfile.mkstemp(prefix="kit-process-", suffix=".log")
            os.close(descriptor)
            self.remove_on_stop.append(Path(log_path))
        self.log_path = Path(log_path)
        owner = owner_pid or os.getpid()
        supervisor = [sys.executable, "-m", "flow_code.kit.processes", "--owner", str(owner)]
        supervisor += [arg for path in self.remove_on_stop for arg in ("--remove", str(path))]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*supervisor, "--", *command],
                env={k: v for k, v in environment.items() if v is not None},
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if owner == os.getpid():
            _started.append(self)
            exit_on_sigterm()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until_ready(self, ready: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        """Wait until `ready()`; if the process exits or `timeout` passes first, stop it and raise with its log."""
        if wait_until(ready, timeout, still_starting=lambda: self.running):
            return
        reason = f"exited with status {self.process.returncode}" if not self.running else f"not ready in {timeout} s"
        log = self.log_tail()
        self.stop()
        raise RuntimeError(f"{what} did not start ({reason}); the last lines of its log:\n{log}")

    def stop(self, timeout: float = STOP_GRACE_SECONDS + 5) -> None:
        """Stop the command and everything it started; the supervisor then removes its folders."""
        if self in _started:
            _started.remove(self)
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)  # the supervisor stops the whole tree
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        group = self.process.pid
        if not wait_until(lambda: not _group_alive(group), timeout=STOP_GRACE_SECONDS):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        if self.process.returncode is None:
            self.process.wait()
        for path in self.remove_on_stop:  # the supervisor's job, unless it was killed
            _remove(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.process.returncode}"
        return f"<BackgroundProcess {' '.join(self.command[2:5])} ... {state}>"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class PrefectServer:
    """`prefect server start` on loopback with its own PREFECT_HOME; started and waited for by the constructor.

    A server on a probed port is checked to be ours (the API reports our PREFECT_HOME); when another
    program took the port in between, it starts again on another port.
    """

    def __init__(
        self,
        port: int | None = None,
        home: str | Path | None = None,
        ui: bool = True,
        env: dict[str, str | None] | None = None,
        wait: bool = True,
        timeout: float = 120.0,
        owner_pid: int | None = None,
        remove_on_stop: list[str | Path] = (),
    ):
        """`home=None` makes a temporary PREFECT_HOME, removed on stop. `wait=False`: call `wait_until_ready()`.

        `owner_pid` and `remove_on_stop` are `BackgroundProcess`'s.
        """
        self.fixed_port = port
        self.temporary_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="prefect-home-"))
        self.ui = ui
        self.extra_env = env or {}
        self.owner_pid = owner_pid
        self.remove = [*remove_on_stop, *([self.home] if self.temporary_home else [])]
        self.process: BackgroundProcess | None = None
        self._launch(port or free_port())
        if wait:
            self.wait_until_ready(timeout)

    def _launch(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.url}/api"
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": None,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if self.ui else "false",
            "PREFECT_UI_API_URL": self.api_url,  # else the UI calls port 4200's API, whatever this server's port
            "PREFECT_LOGGING_COLORS": "false",
            **self.extra_env,
        }
        self.process = BackgroundProcess(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            log_path=self.home / "server.log",
            remove_on_stop=self.remove,
            owner_pid=self.owner_pid,
        )

    def is_ours(self) -> bool:
        """Does the API on our port report our PREFECT_HOME (and not another program's server)?"""
        import json

        try:
            with urllib.request.urlopen(f"{self.api_url}/admin/settings", timeout=5) as response:
                return Path(json.load(response)["home"]).resolve() == self.home.resolve()
        except (OSError, ValueError, KeyError):
            return False

    def wait_until_ready(self, timeout: float = 120.0, attempts: int = 3) -> PrefectServer:
        """Block until our server's API answers; raise with its log if it does not."""
        for attempt in range(attempts):
            try:
                self.process.wait_until_ready(
                    lambda: api_is_healthy(self.api_url) and self.is_ours(),
                    f"The Prefect server on {self.url}",
                    timeout,
                )
                return self
            except RuntimeError as error:
                port_taken = "address already in use" in str(error).lower() or self._answered_by_other()
                if self.fixed_port or not port_taken or attempt == attempts - 1:
                    raise
                self._launch(free_port())  # someone else took the port in between
        return self

    def _answered_by_other(self) -> bool:
        return api_is_healthy(self.api_url) and not self.is_ours()

    def stop(self) -> None:
        """Stop the server and everything it started; a temporary home is removed."""
        if self.process is not None:
            self.process.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


# The supervisor -------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes `pid` started that still run (Linux: /proc), from any of its threads."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    """Every living process below `pid` (Linux: /proc; elsewhere only what `killpg` reaches)."""
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


def _become_subreaper() -> None:
    """Orphans below us (a worker's flow runs, in sessions of their own) become our children, not init's."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _signal_tree(signum: int) -> None:
    """`signum` once to each process below us: the group at once, then those that left it (a second
    SIGTERM makes some programs skip their shutdown: `serve` would not pause its deployment)."""
    group = os.getpgrp()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) != group:
                os.kill(pid, signum)


def _stop_tree(child: subprocess.Popen) -> None:
    """SIGTERM to the command, its group and everything below us; SIGKILL what is left after the grace."""
    _signal_tree(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and (child.poll() is None or _descendants(os.getpid())):
        _reap_others(child)
        time.sleep(0.1)
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    child.wait()
    _reap_others(child)


def _owner_gone(owner: int) -> Callable[[float], bool]:
    """A check that waits up to N seconds for `owner` to exit (a pidfd on Linux, else polling)."""
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:
        return lambda seconds: True
    except (AttributeError, OSError):

        def polled(seconds: float) -> bool:
            time.sleep(seconds)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False

        return polled
    return lambda seconds: bool(select.select([pidfd], [], [], seconds)[0])


def supervise(command: list[str], owner: int, remove: list[Path]) -> int:
    """Run `command` until it exits, or until `owner` exits or we get SIGTERM/SIGINT; then stop its tree."""
    if os.getpgrp() != os.getpid():
        os.setsid()
    _become_subreaper()
    stop_requested = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: stop_requested.append(signum))
    child = subprocess.Popen(command)
    owner_gone = _owner_gone(owner)
    try:
        while child.poll() is None and not stop_requested:
            if owner_gone(0.5):
                print(f"[kit] process {owner}, which started this command, has ended: stopping it", flush=True)
                break
            _reap_others(child)
    finally:
        _stop_tree(child)
        for path in remove:
            _remove(path)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def _reap_others(child: subprocess.Popen) -> None:
    """Reap adopted orphans that ended, leaving our own command to Popen."""
    for pid in children(os.getpid()):
        if pid != child.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flow_code.kit.processes", description=supervise.__doc__)
    parser.add_argument("--owner", type=int, default=os.getppid(), help="stop when this process ends")
    parser.add_argument("--remove", type=Path, action="append", default=[], help="delete this path at the end")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return supervise(command, args.owner, args.remove)


if __name__ == "__main__":
    sys.exit(main())
