"""The price history: every observation kept, none twice, price drops reported, and a crash loses nothing whole."""

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from flow_code.history import Observation, PriceHistory
from flow_code.kit.notebook_helpers import read_flow_run
from flow_code.kit.processes import wait_until
from flow_code.nike_flow import format_table, nike_flow

pytestmark = pytest.mark.usefixtures("prefect_api")
REVOLUTION = "revolution-7-mens-road-running-shoes"


def observation(url="http://127.0.0.1:1/t/shoe", price="70.00", run="run-1") -> Observation:
    return Observation(url, "Shoe", Decimal(price), "USD", datetime.now(UTC), run)


def test_a_row_is_recorded_once_per_run_and_url(tmp_path):
    history = PriceHistory(tmp_path / "prices.sqlite")
    assert history.record(observation()) is True
    assert history.record(observation(price="1.00")) is False  # a retry of the same run and URL
    assert history.record(observation(run="run-2", price="65.00")) is True
    assert [row.price for row in history.observations()] == [Decimal("70.00"), Decimal("65.00")]
    assert history.previous("http://127.0.0.1:1/t/shoe", "run-2").price == Decimal("70.00")


def test_every_price_is_recorded_with_its_flow_run(shop, receiver, tmp_path):
    path = tmp_path / "prices.sqlite"
    urls = shop.product_urls()
    state = nike_flow(urls, 100, retry_delay_seconds=0, history_path=str(path), return_state=True)
    flow_run = read_flow_run(state)
    rows = PriceHistory(path).observations()
    assert sorted(row.url for row in rows) == sorted(urls)
    by_url = {row.url: row for row in rows}
    revolution = by_url[f"{shop.url}/t/{REVOLUTION}/FB2207-001"]
    assert (revolution.product, revolution.price, revolution.currency) == ("Nike Revolution 7", Decimal("70.00"), "USD")
    assert {row.flow_run_id for row in rows} == {str(flow_run.id)}


def test_a_price_drop_is_reported(shop, receiver, tmp_path):
    path = str(tmp_path / "prices.sqlite")
    url = shop.product_urls()[3]
    assert REVOLUTION in url
    nike_flow([url], 100, history_path=path)
    shop.set_price(REVOLUTION, "59.99")
    checks = nike_flow([url], 100, history_path=path)
    assert checks[0].dropped and checks[0].previous_price == Decimal("70.00")
    assert "down from 70.00" in format_table(checks)
    assert "59.99 USD (budget 100), down from 70.00" in receiver.texts()[-1]
    assert [row.price for row in PriceHistory(path).observations(url)] == [Decimal("70.00"), Decimal("59.99")]


def test_a_retried_flow_run_records_and_notifies_once(shop, receiver, tmp_path):
    path = tmp_path / "prices.sqlite"
    good, missing = shop.product_urls()[0], f"{shop.url}/t/no-such-shoe/XX-000"
    retried_flow = nike_flow.with_options(retries=2, retry_delay_seconds=0)
    state = retried_flow([good, missing], 200, retry_delay_seconds=0, history_path=str(path), return_state=True)
    flow_run = read_flow_run(state)
    assert flow_run.state.type.value == "FAILED" and flow_run.run_count == 3  # three attempts, one flow run
    assert len(PriceHistory(path).observations(good)) == 1
    assert sum(good in text for text in receiver.texts()) == 1


CRASHING_RUN = """
import sys
from flow_code.nike_flow import nike_flow
nike_flow(sys.argv[2:], 100, history_path=sys.argv[1])
"""


def test_a_killed_run_leaves_the_history_consistent(shop, tmp_path):
    path = tmp_path / "prices.sqlite"
    product = shop.product_urls()[0]
    # Pages answer one after another, 0.4 s apart: the run is killed while it is recording them.
    urls = [f"{product}?delay={0.4 * i:.1f}&n={i}" for i in range(1, 16)]
    env = {**os.environ, "SLACK_WEBHOOK_URL": ""}
    process = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, str(path), *urls], env=env)
    try:
        recorded = wait_for_rows(path, at_least=3, timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    assert recorded >= 3

    history = PriceHistory(path)
    assert history.integrity() == "ok"
    rows = history.observations()
    assert 3 <= len(rows) < len(urls)  # killed part-way, every row written whole
    assert all(row.price == Decimal("160.00") and row.product and row.currency == "USD" for row in rows)

    checks = nike_flow(urls[:3], 100, retry_delay_seconds=0, history_path=str(path))  # the history still works
    assert all(check.previous_price == Decimal("160.00") for check in checks)
    assert len(history.observations()) == len(rows) + 3


def wait_for_rows(path, at_least: int, timeout: float) -> int:
    """How many rows the history holds once it holds `at_least`, or after `timeout` seconds."""
    count = 0

    def enough() -> bool:
        nonlocal count
        try:
            with sqlite3.connect(path, timeout=5) as db:
                count = db.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            count = 0
        return count >= at_least

    wait_until(enough, timeout)
    return count
