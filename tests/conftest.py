"""Shared test set-up: one real Prefect server per test session, the demo shop, the Slack receiver.

The server is launched in `pytest_configure`, before any test module imports Prefect (Prefect reads
its settings at import), so collection overlaps its start-up; the `prefect_api` fixture waits for it.
Kernels, papermill runs and subprocesses inherit PREFECT_API_URL from this process's environment.
"""

from __future__ import annotations

import atexit
import os

import pytest

from flow_code import demo_shop, slack_receiver
from flow_code.prefect_server import PrefectServer

_server: PrefectServer | None = None


def pytest_configure(config):
    global _server
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller process started the server and exported its address
    _server = PrefectServer().start()
    # Stopped at interpreter exit, after Prefect's own exit hooks have sent the last logs
    # and events to it (stopping it earlier leaves them retrying a dead server).
    atexit.register(_server.stop)
    os.environ.update(
        PREFECT_API_URL=_server.api_url,
        PREFECT_HOME=str(_server.home),
        PREFECT_LOGGING_COLORS="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    os.environ.pop("SLACK_WEBHOOK_URL", None)


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """The test session's Prefect API URL, once the server answers."""
    if _server is not None:
        _server.wait_until_healthy()
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
