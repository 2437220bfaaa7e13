"""Shared test set-up: one real Prefect server per test session, started when a test first needs it.

`pytest_configure` (on the xdist controller, or the only process) picks the server's port and home and
exports them before any test module imports Prefect (Prefect reads its settings at import): test
code, notebook kernels (nbval's and papermill's) and subprocesses all inherit them. The server itself
starts only when a test that uses the `prefect_api` fixture, or a notebook, is about to run: the first
xdist worker to get there starts it under a file lock; the others find it running. It belongs to the
controller process: its supervisor stops it, and removes its home, when the test run ends, however
it ends. `pytest tests/test_prices.py` starts no server.

Tests are spread with `--dist loadscope`: a test module's functions, or a test class's methods, stay on
one worker. A notebook's cells (nbval) and its papermill class in tests/test_notebooks.py (`TestNN...`) are
one unit: nbval runs the notebook first, then papermill runs it again with other parameters on the same
server and the same kernel folder (result storage, price history), as a learner who runs it twice. The
notebooks and the slowest modules are handed out first, so no worker starts a long unit last.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from xdist.scheduler import LoadScopeScheduling

from flow_code.kit import demo_shop, slack_receiver
from flow_code.kit.execute_notebooks import kernel_environment
from flow_code.kit.processes import BackgroundProcess, PrefectServer, free_port

SESSION_DIR = "KIT_TEST_SESSION_DIR"
SESSION_PID = "KIT_TEST_SESSION_PID"
PAPERMILL_CLASS = re.compile(r"tests/test_notebooks\.py::Test(\d\d)")
NOTEBOOK = re.compile(r"notebooks/(\d\d)-")
# Modules that run for a minute or more (own servers, rate-limited waits, launches): started early.
SLOW_MODULES = (
    "test_rate_limits",
    "test_production",
    "test_binder",
    "test_ui_pages",
    "test_doctor",
    "test_deployments",
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timing: checks rates in real time; `make test` runs these after the rest, on a quiet machine"
    )
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller chose the server's address; workers inherited it
    session_dir = Path(tempfile.mkdtemp(prefix="kit-test-session-"))
    os.environ.update(
        kernel_environment(f"http://127.0.0.1:{free_port()}/api"),
        PREFECT_HOME=str(session_dir / "prefect-home"),
        PRICE_HISTORY_PATH=str(session_dir / "prices.sqlite"),  # away from the kit's own data/ folder
        **{SESSION_DIR: str(session_dir), SESSION_PID: str(os.getpid())},
    )
    os.environ.pop("SLACK_WEBHOOK_URL", None)
    # The server's supervisor removes the folder when a server was started; else this does.
    atexit.register(lambda: (session_dir / "server-started").exists() or shutil.rmtree(session_dir, True))


def notebook_of(nodeid: str) -> str | None:
    """ "NN" for a notebook's nbval cell or its papermill class, else None."""
    found = NOTEBOOK.match(nodeid) or PAPERMILL_CLASS.match(nodeid)
    return found.group(1) if found else None


class NotebookScopeScheduling(LoadScopeScheduling):
    """loadscope, with a notebook's nbval cells and its papermill class in one unit."""

    def _split_scope(self, nodeid: str) -> str:
        notebook = notebook_of(nodeid)
        return f"notebook {notebook}" if notebook else super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadscope":
        return NotebookScopeScheduling(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    """Notebooks first (the later ones run longest), nbval before papermill, then the slow modules."""

    def order(item) -> tuple:
        notebook = notebook_of(item.nodeid)
        if notebook:
            return (0, -int(notebook), item.path.suffix != ".ipynb")
        return (1, item.path.stem not in SLOW_MODULES)

    items.sort(key=order)  # stable: cells and tests keep their order within a unit


def kernel_folder(notebook_path: Path) -> Path:
    """The result storage and price history folder nbval's kernel and then papermill's use for a notebook."""
    return Path(os.environ[SESSION_DIR]) / "kernels" / notebook_path.stem


_session_server_ready = False


def start_session_server() -> None:
    """Start the test run's Prefect server, once for all xdist workers, and wait until it answers."""
    global _session_server_ready
    if _session_server_ready:
        return
    session_dir = Path(os.environ[SESSION_DIR])
    with open(session_dir / "server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = session_dir / "server-started"
        if not started.exists():
            PrefectServer(
                port=urlsplit(os.environ["PREFECT_API_URL"]).port,
                home=os.environ["PREFECT_HOME"],
                ui=False,  # tests read the API; the Binder test has its own UI
                timeout=180,
                owner_pid=int(os.environ[SESSION_PID]),
                remove_on_stop=[session_dir],
            )
            started.touch()
    _session_server_ready = True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Notebooks (nbval starts their kernel in setup) and tests using `prefect_api` get the server first."""
    if item.path.suffix == ".ipynb" or "prefect_api" in getattr(item, "fixturenames", ()):
        start_session_server()
    if item.path.suffix == ".ipynb":  # nbval's kernel, started in its first cell's set-up, inherits it
        kernel_folder(item.path).mkdir(parents=True, exist_ok=True)
        os.environ["KIT_KERNEL_DIR"] = str(kernel_folder(item.path))
    else:
        os.environ.pop("KIT_KERNEL_DIR", None)


@pytest.fixture(scope="module", autouse=True)
def _prefect_workers_per_module():
    """After each test module, stop Prefect's per-process events and API-log workers.

    Each binds to the API URL in force when it first sent something: after a module that used a server of
    its own (the rate limits', the UI pages'), the next module's events (task runs outside flows are
    recorded from them) would go to that stopped server.
    """
    yield
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=10, at_exit=False)
    APILogWorker.drain_all(timeout=10, at_exit=False)


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """The test session's Prefect API URL (already answering)."""
    start_session_server()
    return os.environ["PREFECT_API_URL"]


@pytest.fixture(scope="session")
def _shop():
    with demo_shop.start() as shop:
        yield shop


@pytest.fixture
def shop(_shop):
    """The demo shop, with counts, latency, failures and prices reset for each test."""
    _shop.reset()
    yield _shop
    _shop.reset()


@pytest.fixture
def receiver(monkeypatch):
    """A Slack receiver whose webhook URL is in SLACK_WEBHOOK_URL for this test."""
    with slack_receiver.start() as running:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", running.webhook_url)
        yield running


@pytest.fixture
def process():
    """Start background processes (`process(command, **env)`); each is stopped at the end, even on failure."""
    started = []

    def start(command: list[str], log_path=None, **env: str) -> BackgroundProcess:
        started.append(BackgroundProcess(command, env=env, log_path=log_path))
        return started[-1]

    yield start
    for running in started:
        running.stop()
