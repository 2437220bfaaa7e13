"""The capstone flow against the demo shop, the Slack receiver and the test session's Prefect server."""

from decimal import Decimal
from uuid import uuid4

import pytest
from prefect.exceptions import ParameterTypeError
from prefect_slack import SlackWebhook

from flow_code.kit.demo_shop import CATALOG
from flow_code.kit.notebook_helpers import read_flow_run, read_task_runs, task_run_states
from flow_code.nike_flow import GOOD_DEAL, TOO_EXPENSIVE, checks_of, nike_flow, run_price_check

pytestmark = pytest.mark.usefixtures("prefect_api")
CATALOG_PRICES = {product.path: product.price for product in CATALOG}


def run(urls, budget, **options):
    """Run the flow; return its final state as the API has it, and every URL's outcome."""
    state = nike_flow(urls, budget, return_state=True, retry_delay_seconds=0, **options)
    return read_flow_run(state), checks_of(state)


def test_prices_decisions_and_slack_messages(shop, receiver):
    urls = shop.product_urls()
    flow_run, checks = run(urls, budget=110)

    assert flow_run.state.type.value == "COMPLETED"
    assert flow_run.name == "shoe-prices-budget-110"
    assert [check.url for check in checks] == urls  # input order
    for check in checks:
        expected = CATALOG_PRICES[check.url.removeprefix(shop.url)]
        assert check.price == expected
        assert check.message == (GOOD_DEAL if expected <= 110 else TOO_EXPENSIVE)
        assert check.error is None
    texts = receiver.texts()
    assert len(texts) == len(urls)
    assert any(
        text.startswith("revolution-7") and "70.00 USD (budget 110)" in text and GOOD_DEAL in text for text in texts
    )
    assert any(text.startswith("air-max-270") and "160.00 USD" in text and TOO_EXPENSIVE in text for text in texts)


def test_flaky_pages_recover_with_retries(shop, receiver):
    shop.fail_first = 2
    urls = shop.product_urls()[:3]
    flow_run, checks = run(urls, budget=120, retries=3)
    assert flow_run.state.type.value == "COMPLETED"
    assert all(check.price is not None for check in checks)
    assert [shop.requests_for(url) for url in urls] == [3, 3, 3]  # two 503s, then the page
    retried = [run for run in read_task_runs(flow_run.id) if run.name.startswith("find_nike_price")]
    assert sorted(run.run_count for run in retried) == [3, 3, 3]


def test_a_failing_url_does_not_stop_the_others(shop, receiver):
    good = shop.product_urls()[:2]
    missing = f"{shop.url}/t/no-such-shoe/XX-000"
    sold_out = shop.product_urls(in_stock=False)[0]
    flow_run, checks = run([good[0], missing, sold_out, good[1]], budget=500, retries=1)

    assert flow_run.state.type.value == "FAILED"
    assert missing in flow_run.state.message and "HTTP 404" in flow_run.state.message
    assert sold_out in flow_run.state.message and "sold out" in flow_run.state.message
    assert "2 of 4 URLs failed" in flow_run.state.message
    by_url = {check.url: check for check in checks}
    assert by_url[good[0]].price is not None and by_url[good[1]].message == GOOD_DEAL
    assert by_url[missing].price is None and "HTTP 404" in by_url[missing].error
    assert shop.requests_for(missing) == 1  # a 404 is not retried
    prices, [summary] = receiver.texts()[:-1], receiver.texts()[-1:]
    assert len(prices) == 2  # the good ones were still notified
    assert summary.startswith("Price check failed") and "2 of 4 URLs failed" in summary  # the failure hook


def test_retries_exhausted_names_the_url(shop, receiver):
    shop.fail_first = 10
    url = shop.product_urls()[0]
    flow_run, checks = run([url], budget=120, retries=2)
    assert flow_run.state.type.value == "FAILED"
    assert f"{url}: HTTP 503" in flow_run.state.message
    assert shop.requests_for(url) == 3
    [summary] = receiver.texts()  # no price to tell, only the failure hook's summary
    assert summary.startswith("Price check failed") and f"{url}: HTTP 503" in summary


def test_no_webhook_means_notification_skipped(shop, receiver, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    block_name = f"test-alerts-{uuid4().hex[:8]}"
    SlackWebhook(url=receiver.webhook_url).save(block_name)
    urls = shop.product_urls()[:1]
    try:
        flow_run, checks = run(urls, budget=120, slack_webhook_block=block_name)  # the block is found: one message
        assert len(receiver.texts()) == 1
        flow_run, checks = run(urls, budget=120, slack_webhook_block="no-such-block")  # nothing found: none
    finally:
        SlackWebhook.delete(block_name)
    assert flow_run.state.type.value == "COMPLETED"
    assert checks[0].price is not None
    assert len(receiver.texts()) == 1  # the second run posted nothing


def test_invalid_parameters_fail_validation():
    with pytest.raises(ParameterTypeError) as caught:
        nike_flow(50, "Shoe")
    message = str(caught.value)
    assert "urls" in message and "budget" in message


def test_second_run_takes_compare_price_from_the_cache(shop, receiver):
    urls = shop.product_urls()[:2]
    budget = 123_457  # inputs no other test uses
    first, _ = run(urls, budget)
    second, checks = run(urls, budget)
    first_states = task_run_states(first.id, prefix="compare_price")
    second_states = task_run_states(second.id, prefix="compare_price")
    assert set(first_states.values()) == {"Completed"}
    assert set(second_states.values()) == {"Cached"}
    assert len(second_states) == 2
    assert all(check.message == GOOD_DEAL for check in checks)


def test_pages_are_fetched_concurrently(shop):
    """Eight slow pages (1 s each) are all requested before the first one answers: they run at once.

    Measured at the shop (when each request arrived), not by the run's duration, which also holds the
    run's fixed costs and a loaded machine's delays (bench/ measures durations).
    """
    delay = 1.0
    eight_urls = [f"{url}?delay={delay}&copy={i}" for i, url in enumerate(shop.product_urls() * 2)][:8]
    checks = run_price_check(eight_urls, 120, retry_delay_seconds=0)
    assert all(isinstance(check.price, Decimal) for check in checks)
    arrivals = shop.request_times()
    assert len(arrivals) == 8
    assert max(arrivals) - min(arrivals) < delay  # one after another, they would arrive >= 1 s apart each
