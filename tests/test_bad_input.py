"""Bad input: each a clear error naming the input, and nothing else lost.

One flow run checks every kind of bad URL next to good ones (the matrix below); each test then
reads that run's outcome for one input. Parameter and Slack failures have tests of their own.
"""

from decimal import Decimal

import pytest
from prefect.exceptions import ParameterTypeError

from flow_code import notify
from flow_code.kit import slack_receiver
from flow_code.kit.notebook_helpers import read_flow_run
from flow_code.kit.processes import free_port
from flow_code.nike_flow import GOOD_DEAL, checks_of, nike_flow

pytestmark = pytest.mark.usefixtures("prefect_api")
TIMEOUT = 1.0


def bad_urls(shop) -> dict[str, tuple[str, str]]:
    """Each kind of bad input: its URL and the words its error must contain."""
    trouble = shop.trouble_urls()
    product = shop.product_urls()[2]  # not one of the good URLs, so its request count is its own
    return {
        "not a URL": ("shop.example/t/air-max", "not an http(s) URL"),
        "not http(s)": ("ftp://127.0.0.1/t/air-max", "not an http(s) URL"),
        "unreachable host": (f"http://127.0.0.1:{free_port()}/t/air-max", "could not connect"),
        "hanging connection": (f"{product}?delay=5", f"no answer within {TIMEOUT:g} s (timeout)"),
        "404": (f"{shop.url}/t/no-such-shoe/XX-000", "HTTP 404"),
        "403 bot block": (trouble["bot-block"], "HTTP 403"),
        "JSON response": (trouble["json"], "not an HTML page (Content-Type: application/json)"),
        "binary response": (trouble["binary"], "not an HTML page (Content-Type: image/png)"),
        "huge response": (trouble["huge"], "page too large"),
        "page with no price": (trouble["no-price"], "no price on the page"),
        "sold out": (shop.product_urls(in_stock=False)[0], "sold out"),
    }


@pytest.fixture(scope="module")
def matrix_run(_shop):
    """One run of the flow over every bad URL, two good ones (one twice), malformed JSON-LD and a euro price."""
    _shop.reset()
    bad = bad_urls(_shop)
    good = _shop.product_urls()[:2]
    trouble = _shop.trouble_urls()
    urls = [good[0], *(url for url, _ in bad.values()), trouble["malformed-json-ld"], trouble["euro-price"]]
    urls += [good[1], good[0]]  # good[0] twice
    with slack_receiver.start() as receiver, pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLACK_WEBHOOK_URL", receiver.webhook_url)
        state = nike_flow(urls, 110, retries=1, retry_delay_seconds=0, timeout_seconds=TIMEOUT, return_state=True)
        yield {
            "flow_run": read_flow_run(state),
            "checks": {check.url: check for check in checks_of(state)},
            "texts": receiver.texts(),
            "bad": bad,
            "good": good,
            "trouble": trouble,
            "requests": {url: _shop.requests_for(url) for url, _ in bad.values() if url.startswith(_shop.url)},
        }


@pytest.mark.parametrize(
    "kind",
    [
        "not a URL",
        "not http(s)",
        "unreachable host",
        "hanging connection",
        "404",
        "403 bot block",
        "JSON response",
        "binary response",
        "huge response",
        "page with no price",
        "sold out",
    ],
)
def test_each_bad_url_is_named_with_its_reason(matrix_run, kind):
    url, words = matrix_run["bad"][kind]
    check = matrix_run["checks"][url]
    assert check.price is None
    assert check.error.startswith(f"{url}: ") and words in check.error
    message = matrix_run["flow_run"].state.message
    assert f"{url}: " in message and words in message  # the run's final message says it too


def test_the_run_fails_and_counts_the_failures(matrix_run):
    flow_run = matrix_run["flow_run"]
    assert flow_run.state.type.value == "FAILED"
    assert f"{len(matrix_run['bad'])} of {len(matrix_run['checks'])} URLs failed" in flow_run.state.message


def test_only_transient_failures_are_retried(matrix_run):
    bad, requests = matrix_run["bad"], matrix_run["requests"]
    assert requests[bad["hanging connection"][0]] == 2  # a timeout: tried again
    assert requests[bad["404"][0]] == 1
    assert requests[bad["403 bot block"][0]] == 1


def test_good_urls_are_kept_and_notified_once(matrix_run):
    checks, good, texts = matrix_run["checks"], matrix_run["good"], matrix_run["texts"]
    assert len(checks) == len(set(checks))  # the duplicate URL was checked once
    for url in good:
        assert checks[url].price is not None and checks[url].error is None
    assert sum(good[0] in text for text in texts) == 1
    summaries = [text for text in texts if text.startswith("Price check failed")]
    assert len(summaries) == 1  # the failure hook's one message for the run
    assert len(texts) - len(summaries) == 4  # two products, the malformed JSON-LD page, the euro price


def test_malformed_json_ld_falls_back_to_the_price_container(matrix_run):
    check = matrix_run["checks"][matrix_run["trouble"]["malformed-json-ld"]]
    assert (check.price, check.currency, check.message) == (Decimal("99.00"), "USD", GOOD_DEAL)


def test_a_price_in_another_currency_is_reported_not_compared(matrix_run):
    check = matrix_run["checks"][matrix_run["trouble"]["euro-price"]]
    assert (check.price, check.currency) == (Decimal("129.99"), "EUR")
    assert check.message == "Not compared: the price is in EUR, the budget in USD."
    assert check.error is None
    assert any("129.99 EUR" in text and "Not compared" in text for text in matrix_run["texts"])


@pytest.mark.parametrize(
    ("urls", "budget", "named"),
    [([], 100, "urls"), (["http://127.0.0.1:1/t/x"], 0, "budget"), (["http://127.0.0.1:1/t/x"], -20, "budget")],
    ids=["empty URL list", "zero budget", "negative budget"],
)
def test_bad_parameters_are_rejected_before_the_run(urls, budget, named):
    with pytest.raises(ParameterTypeError) as caught:
        nike_flow(urls, budget)
    assert named in str(caught.value)


@pytest.mark.parametrize("status", [404, 500])
def test_a_refusing_webhook_keeps_the_prices(shop, receiver, status):
    receiver.status = status
    state = nike_flow(shop.product_urls()[:2], 120, retry_delay_seconds=0, return_state=True)
    flow_run, checks = read_flow_run(state), checks_of(state)
    assert flow_run.state.type.value == "FAILED"
    assert f"Slack answered HTTP {status}" in flow_run.state.message
    assert all(check.price is not None for check in checks)
    assert receiver.webhook_url not in flow_run.state.message  # the secret stays out of errors


def test_a_webhook_that_times_out_fails_only_the_message(shop, receiver, monkeypatch):
    monkeypatch.setattr(notify, "SLACK_TIMEOUT_SECONDS", 0.5)
    receiver.delay = 3
    url = shop.product_urls()[0]
    state = nike_flow([url], 120, retry_delay_seconds=0, return_state=True)
    flow_run, checks = read_flow_run(state), checks_of(state)
    assert flow_run.state.type.value == "FAILED"
    assert f"{url}: price read, but the Slack message failed (Slack did not answer within 0.5 s" in (
        flow_run.state.message
    )
    assert checks[0].price is not None
    assert receiver.webhook_url not in flow_run.state.message
