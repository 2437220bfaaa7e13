"""Shared test set-up: one real Prefect server per test session, the demo shop, the Slack receiver.

The server is launched in `pytest_configure`, before any test module imports Prefect (Prefect reads
its settings at import), and its address is exported: test code, notebook kernels (nbval's and
papermill's) and subprocesses all inherit it. Collection overlaps the server's start-up; tests wait
for it after collection. Under pytest-xdist only the controller starts it; workers inherit its address.
Tests are spread with `--dist loadscope`: a notebook's cells (nbval) stay on one worker, as do a test
module's functions or a test class's methods.
"""

from __future__ import annotations

import atexit
import os
import tempfile

import pytest

from flow_code import demo_shop, slack_receiver
from flow_code.course import kernel_environment
from flow_code.prefect_server import PrefectServer, wait_for_api


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller started the server and exported its address
    server = PrefectServer(ui=False).start()  # tests read the API; the Binder test has its own UI
    # Stopped at interpreter exit, after Prefect's own exit hooks have sent the last logs
    # and events to it (stopping it earlier leaves them retrying a dead server).
    atexit.register(server.stop)
    os.environ.update(kernel_environment(server.api_url), PREFECT_HOME=str(server.home))
    # The tests' price history, away from the kit's own data/ folder.
    os.environ["PRICE_HISTORY_PATH"] = os.path.join(tempfile.mkdtemp(prefix="test-history-"), "prices.sqlite")
    os.environ.pop("SLACK_WEBHOOK_URL", None)


def pytest_collection_finish(session):
    """Wait for the server once collection is done (it started in pytest_configure)."""
    api_url = os.environ["PREFECT_API_URL"]
    if not wait_for_api(api_url, timeout=180):
        raise RuntimeError(f"the test Prefect server at {api_url} did not start")


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """The test session's Prefect API URL (already answering)."""
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
