"""Start and stop a real `prefect server start` process (for tests, notebooks and `make` targets).

server = prefect_server.start(port=4200)   # waits until /api/health answers
os.environ["PREFECT_API_URL"] = server.api_url
...
server.stop()
"""

from __future__ import annotations

import socket
import tempfile
import urllib.request
from pathlib import Path

from flow_code.background import BackgroundProcess, prefect_command, wait_until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_api(api_url: str, timeout: float = 120.0, still_starting=lambda: True) -> bool:
    """Wait until `/api/health` answers (True), or `timeout` passes or `still_starting()` is False."""
    return wait_until(lambda: api_is_healthy(api_url), timeout, still_starting)


class PrefectServer:
    """A `prefect server start` subprocess on loopback with its own PREFECT_HOME."""

    def __init__(
        self,
        port: int | None = None,
        home: str | Path | None = None,
        ui: bool = True,
        env: dict[str, str | None] | None = None,
    ):
        self.port = port or free_port()
        self.home = Path(home or tempfile.mkdtemp(prefix="prefect-home-"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api"
        self.env = {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": None,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_LOGGING_COLORS": "false",
            **(env or {}),
        }
        self.process: BackgroundProcess | None = None

    def start(self) -> PrefectServer:
        """Launch the server process (returns at once; `wait_until_healthy` waits for it)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = BackgroundProcess(
            prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(self.port)),
            env=self.env,
            log_path=self.home / "server.log",
        )
        return self

    def wait_until_healthy(self, timeout: float = 120.0) -> PrefectServer:
        """Block until `/api/health` answers; raise with the server's log if it does not."""
        if wait_for_api(self.api_url, timeout, still_starting=lambda: self.process.running):
            return self
        log = self.process.log_tail()
        self.stop()
        raise RuntimeError(f"Prefect server on {self.url} did not start; its log:\n{log}")

    def stop(self) -> None:
        """Stop the server and everything it started."""
        if self.process is not None:
            self.process.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start(
    port: int | None = None, home: str | Path | None = None, ui: bool = True, timeout: float = 120.0
) -> PrefectServer:
    """Start a Prefect server and wait until its API answers."""
    return PrefectServer(port=port, home=home, ui=ui).start().wait_until_healthy(timeout)
