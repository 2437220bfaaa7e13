"""Rate limits per host (`requests_per_second`), against a Prefect server on SQLite and demo shops.

The module has a server of its own: rates are about time, and the session's server is busy with
notebooks. Marked `timing`: `make test` runs it alone after the rest (at load 8 a paused flow process
delivered 25 requests in one second at 20/s). Checked where it matters, at the shop: never more than
R + 1 requests in any 1-second window (no burst at the start either), and close to R over a run. How
close is bench/'s business (bench/README.md). The flow's former way, Prefect's
`rate_limit` for one slot per request, passes at 5/s on a quiet server but reached 0.6 of 20 a second
on SQLite: the 20/s test fails it.
"""

from __future__ import annotations

import contextvars
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from flow_code.kit import demo_shop
from flow_code.kit.notebook_helpers import most_in_one_second
from flow_code.kit.processes import PrefectServer
from flow_code.nike_flow import run_price_check
from flow_code.pacer import HostPacer, Writer
from flow_code.rate_limits import ensure_host_rate_limits, host_limit_name, limit_slots

pytestmark = [pytest.mark.timing, pytest.mark.usefixtures("rate_server")]
PER_SECOND = 5.0
LEAST_SHARE = 0.7  # of R over one process's run (bench/README.md: 0.96 on a quiet machine; 0.78 seen at load 8)
LEAST_SHARE_TWO = 0.5  # two processes: the host changes hands, seconds on a busy SQLite server (0.62 seen at load 9)
TURNS = 30  # per pacer or run, when two share a host: 12 s at 5/s


@pytest.fixture(scope="module")
def rate_server_url():
    with PrefectServer(ui=False) as server:
        yield server.api_url


@pytest.fixture
def rate_server(rate_server_url):
    """This module's Prefect server, for the test's flow runs and clients (threads started with its context too)."""
    with temporary_settings({PREFECT_API_URL: rate_server_url}):
        yield rate_server_url


def rate(times: list[float]) -> float:
    """Requests per second from the first request to the last."""
    return (len(times) - 1) / (max(times) - min(times))


def check_rate(times: list[float], least_share: float = LEAST_SHARE, per_second: float = PER_SECOND) -> None:
    """At most R + 1 in any second, and at least `least_share` of R from the first request to the last.

    Requests leave the pacer at least 1/R apart; on the way to the shop a busy machine can delay one by
    tens of ms more than the next. At 5/s that is far from the 200 ms it takes to squeeze an extra
    request into a second; at 20/s (50 ms) it is not, so there the bound allows three more (the bench,
    on a quiet machine, measures R + 1; Prefect's `rate_limit` let 23 of 20 through on PostgreSQL).
    """
    most, reached = most_in_one_second(times), rate(times)
    print(f"\n{len(times)} requests at {reached:.2f}/s (limit {per_second:g}/s), at most {most} in 1 s")
    assert most <= per_second + (1 if per_second <= PER_SECOND else 4)
    assert reached >= least_share * per_second


def main_job(urls: list[str], per_second: float, api_url: str, history: Path) -> subprocess.Popen:
    """The main job in a process of its own, on this module's server: the shop's clock is not the flow's."""
    command = [sys.executable, "-m", "flow_code.nike_flow", "--requests-per-second", str(per_second), "--retries", "0"]
    env = {**os.environ, "PREFECT_API_URL": api_url, "PRICE_HISTORY_PATH": str(history)}
    return subprocess.Popen([*command, *urls], stdout=subprocess.PIPE, env=env)


def urls_at(shop, count: int) -> list[str]:
    return [f"{url}?copy={i}" for i, url in enumerate(shop.product_urls() * count)][:count]


def test_a_host_limit_holds_seconds_of_slots(shop):
    [name] = ensure_host_rate_limits(shop.product_urls(), per_second=2.5)
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(name)
    assert name == host_limit_name(shop.url)
    assert (limit.limit, limit.slot_decay_per_second) == (limit_slots(2.5), 2.5)
    with pytest.raises(ValueError, match="above 0"):
        ensure_host_rate_limits(shop.product_urls(), per_second=0)


def test_two_pacers_share_one_limit():
    """Two pacers with writers of their own, as two processes have: they share nothing but the limit."""
    name = f"requests-to-test-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit_slots(PER_SECOND), PER_SECOND)
    times, lock = [], threading.Lock()

    def take_turns(pacer: HostPacer) -> None:
        pacer.expect(TURNS)  # as a flow's pacers are told (ensure_host_rate_limits)
        for _ in range(TURNS):
            pacer.wait()
            with lock:
                times.append(time.time())

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(take_turns, HostPacer(name, Writer())))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(times) == 2 * TURNS
    check_rate(times, LEAST_SHARE_TWO)
    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(name)


def test_one_run_keeps_to_20_a_second_from_its_first_request(rate_server, tmp_path):
    """At 20/s the flow's former one-slot-per-request `rate_limit` reached 0.6/s on SQLite (bench/README.md).

    A shop of its own: a host's limit keeps the slots a run took, and they free at the host's rate.
    """
    with demo_shop.start() as shop:
        run = main_job(urls_at(shop, 100), 20.0, rate_server, tmp_path / "prices.sqlite")
        run.wait(timeout=180)
        assert run.returncode == 0
        times = shop.request_times()
    assert len(times) == 100
    check_rate(times, per_second=20.0)


def test_each_host_gets_its_own_rate(shop):
    with demo_shop.start() as other_shop:
        urls = [url for pair in zip(urls_at(shop, 20), urls_at(other_shop, 20), strict=True) for url in pair]
        checks = run_price_check(urls, 120, retry_delay_seconds=0, requests_per_second=PER_SECOND)
        assert all(check.price is not None for check in checks)
        for each in (shop, other_shop):
            assert len(each.request_times()) == 20
            # One write reserves slots at both hosts (flow_code/pacer.py), so neither waits for the other.
            check_rate(each.request_times())


def test_two_runs_at_once_share_the_host(shop, rate_server, tmp_path):
    """Two flow runs in two processes (the main job), started together, against one shop."""
    urls = urls_at(shop, 2 * TURNS)
    runs = [main_job(urls[half::2], PER_SECOND, rate_server, tmp_path / "prices.sqlite") for half in (0, 1)]
    for run in runs:
        run.wait(timeout=180)
    assert [run.returncode for run in runs] == [0, 0]
    times = shop.request_times()
    assert len(times) == 2 * TURNS
    print("\nseconds from the first request:", " ".join(f"{at - times[0]:.1f}" for at in times))
    check_rate(times, LEAST_SHARE_TWO)
