"""The capstone: check shoe prices, compare them with a budget, tell Slack.

The seed's `flow_code/nike_flow.py`, on Prefect 3, with the same names:

    from flow_code.nike_flow import nike_flow
    nike_flow(urls, budget=120)

The main job checks the demo shop's products (or the URLs given) and prints a table:

    python -m flow_code.nike_flow [--budget N] [URL ...]
    python -m flow_code.nike_flow serve [--interval SECONDS] [--budget N] URL ...
    python -m flow_code.nike_flow automations     # Slack alerts from the server on price drops
"""

if __name__ == "__main__":  # the main job: Prefect's temporary server starts now and boots while the rest imports
    from flow_code.kit import temporary_server

    temporary_server.start_early()

import argparse
import inspect
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import INPUTS, NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run as current_flow_run
from prefect.runtime import task_run as current_task_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.hashing import hash_objects
from prefect_slack import SlackWebhook
from pydantic import BaseModel, Field

from flow_code.fetch import TIMEOUT_SECONDS, fetch_page
from flow_code.history import Observation, PriceHistory
from flow_code.kit import temporary_server
from flow_code.notify import find_slack_webhook, post_message, send_failure_summary
from flow_code.observe import PageProgress, emit_price_drop, publish_prices
from flow_code.prices import Offer, PriceNotFound, read_offer
from flow_code.rate_limits import ensure_host_rate_limits, wait_for_turn

GOOD_DEAL = "Buy the shoes! Good deal!"
TOO_EXPENSIVE = "Don't buy the shoes. They're too expensive"
MAX_CONCURRENT_PAGES = 16


class PriceCheck(BaseModel):
    """The outcome for one URL: its price and the decision, or why it could not be checked."""

    url: str
    product: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    budget: int
    message: str | None = None
    previous_price: Decimal | None = None
    error: str | None = None

    @property
    def dropped(self) -> bool:
        """The price is lower than the last one another run saw."""
        return self.previous_price is not None and self.price is not None and self.price < self.previous_price


class PriceCheckFailed(Exception):
    """Some URLs could not be checked; `checks` holds every URL's outcome, good ones included."""

    def __init__(self, checks: list[PriceCheck]):
        failed = [check for check in checks if check.error]
        reasons = "; ".join(check.error for check in failed)
        super().__init__(f"{len(failed)} of {len(checks)} URLs failed: {reasons}")
        self.checks = checks

    def __reduce__(self):
        return type(self), (self.checks,)


def page_name(url: str) -> str:
    """A short readable name for a product URL: its longest path segment (the product slug)."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    return max(segments, key=len, default=parts.netloc or url)


def _price_run_name() -> str:
    return f"find_nike_price-{page_name(current_task_run.parameters['url'])}"


def _check_run_name() -> str:
    """`record_price-<product>`, `notify_slack-<product>`: the task's name and the checked page's."""
    return f"{current_task_run.task_name}-{page_name(current_task_run.parameters['check'].url)}"


def is_transient(task, run, state) -> bool:
    """Retry only what may pass on a second try: timeouts, lost connections, 5xx and 429."""
    return getattr(state.data, "transient", False)


@task(retries=3, retry_delay_seconds=10, retry_condition_fn=is_transient, task_run_name=_price_run_name)
def find_nike_price(
    url: str, timeout_seconds: float = TIMEOUT_SECONDS, requests_per_second: float | None = None
) -> Offer:
    """The current offer (price, currency, product name) on the product page at `url`.

    With `requests_per_second`, each try waits for its turn under the host's rate limit.
    """
    if requests_per_second:
        wait_for_turn(url, requests_per_second)
    html = fetch_page(url, timeout=timeout_seconds)
    try:
        return read_offer(html)
    except PriceNotFound as exc:
        raise PriceNotFound(f"{url}: {exc}") from None


@task(cache_policy=INPUTS, cache_expiration=timedelta(days=1), task_run_name="compare_price-{price}-{budget}")
def compare_price(price: Decimal, budget: int) -> str:
    """The seed's decision: buy when the price is within the budget."""
    if price <= budget:
        return GOOD_DEAL
    return TOO_EXPENSIVE


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, task_run_name=_check_run_name)
def record_price(check: PriceCheck, flow_run_id: str, history_path: str | None = None) -> bool:
    """Append the price to the price history; False if this flow run had recorded it already."""
    observation = Observation(check.url, check.product, check.price, check.currency, datetime.now(UTC), flow_run_id)
    return PriceHistory(history_path).record(observation)


def one_message_per_run_and_url(context, parameters) -> str:
    """The cache key of a Slack message: its flow run and URL. A retried task or flow run finds the
    message already sent (state Cached) and does not post it again; a failed post is not cached."""
    return hash_objects("slack-message", parameters["flow_run_id"], parameters["check"].url)


@task(cache_key_fn=one_message_per_run_and_url, task_run_name=_check_run_name)
def notify_slack(webhook: SlackWebhook, check: PriceCheck, flow_run_id: str) -> None:
    """Post one price decision to Slack; no answer in time or an HTTP error from Slack fails this task."""
    post_message(webhook, slack_text(check))


def slack_text(check: PriceCheck) -> str:
    """`revolution-7-…: 70.00 USD (budget 110), down from 80.00. Buy the shoes! Good deal! <url>`."""
    drop = f", down from {check.previous_price}" if check.dropped else ""
    price = f"{check.price} {check.currency}" if check.currency else f"{check.price}"
    return f"{page_name(check.url)}: {price} (budget {check.budget}){drop}. {check.message} {check.url}"


@flow(
    name="Shoe Price Notification",
    flow_run_name="shoe-prices-budget-{budget}",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENT_PAGES),
    on_failure=[send_failure_summary],
    on_crashed=[send_failure_summary],
)
def nike_flow(
    urls: Annotated[list[str], Field(min_length=1)],
    budget: Annotated[int, Field(gt=0)],
    retries: int = 3,
    retry_delay_seconds: float = 10,
    slack_webhook_block: str = "shoe-alerts",
    currency: str = "USD",
    timeout_seconds: Annotated[float, Field(gt=0)] = TIMEOUT_SECONDS,
    requests_per_second: Annotated[float, Field(gt=0)] | None = None,
    history_path: str | None = None,
) -> list[PriceCheck]:
    """Check every URL's price concurrently, compare it with `budget`, record it and notify Slack.

    URLs that still fail after their retries do not stop the others; the run then ends Failed
    with a message naming each failed URL and why. A price in another currency than `currency`
    is reported, not compared. `requests_per_second` caps the requests sent to each host.
    """
    logger = get_run_logger()
    unique_urls = list(dict.fromkeys(urls))
    if len(unique_urls) < len(urls):
        duplicates = sorted(url for url, times in Counter(urls).items() if times > 1)
        logger.warning("Checking each URL once; listed more than once: %s", ", ".join(duplicates))
    finder = find_nike_price.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)
    if requests_per_second:
        ensure_host_rate_limits(unique_urls, requests_per_second)
    futures = finder.map(
        unique_urls, timeout_seconds=unmapped(timeout_seconds), requests_per_second=unmapped(requests_per_second)
    )
    progress = PageProgress(len(futures))
    for _ in as_completed(futures):  # every page read first; then the decisions, one URL after another
        progress.advance()
    history = PriceHistory(history_path)
    run_id = str(current_flow_run.id)
    checks = []
    for url, future in zip(unique_urls, futures, strict=True):
        check = _decide(url, future.result(raise_on_failure=False), budget, currency)
        if check.price is not None:
            previous = history.previous(url, run_id)
            if previous is not None and previous.currency == check.currency:
                check.previous_price = previous.price
            record_price(check, run_id, str(history.path))
        checks.append(check)

    webhook = find_slack_webhook(slack_webhook_block)
    if webhook is None:
        logger.info(
            "Slack notification skipped: set SLACK_WEBHOOK_URL or save a SlackWebhook block named %r",
            slack_webhook_block,
        )
    else:
        for check in checks:
            if check.price is not None:
                _notify(webhook, check, run_id)

    for check in checks:
        emit_price_drop(check)  # for the automation "Shoe price dropped" (python -m flow_code.nike_flow automations)
    publish_prices(checks)
    if any(check.error for check in checks):
        raise PriceCheckFailed(checks)
    return checks


def _decide(url: str, offer_or_error: Offer | BaseException, budget: int, currency: str) -> PriceCheck:
    if isinstance(offer_or_error, BaseException):
        return PriceCheck(url=url, budget=budget, error=_reason(url, offer_or_error))
    offer = offer_or_error
    check = PriceCheck(url=url, product=offer.product, price=offer.price, currency=offer.currency, budget=budget)
    if offer.currency and offer.currency.upper() != currency.upper():
        check.message = f"Not compared: the price is in {offer.currency}, the budget in {currency}."
    else:
        check.currency = check.currency or currency
        check.message = compare_price(offer.price, budget)
    return check


def _notify(webhook: SlackWebhook, check: PriceCheck, run_id: str) -> None:
    state = notify_slack(webhook, check, run_id, return_state=True)
    if state.is_failed():
        error = state.result(raise_on_failure=False)
        check.error = f"{check.url}: price read, but the Slack message failed ({error})"


def _reason(url: str, error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if text.startswith(url) else f"{url}: {text}"


# --- the main job ----------------------------------------------------------------------------


def run_price_check(urls: list[str], budget: int, **options) -> list[PriceCheck]:
    """Run the flow and return every URL's outcome, also when some URLs failed."""
    return checks_of(nike_flow(urls, budget, return_state=True, **options))


def checks_of(state) -> list[PriceCheck]:
    """Every URL's outcome from a final `nike_flow` state, Completed or Failed; for sync code only.

    Where an event loop runs (a Jupyter cell), `state.result()` hands back a coroutine instead:
    there, use `await state.aresult(raise_on_failure=False)` and `checks_from` on its value.
    """
    outcome = state.result(raise_on_failure=False)
    if inspect.isawaitable(outcome):
        outcome.close()
        raise RuntimeError("checks_of(state) runs in sync code only: use checks_from(await state.aresult(...))")
    return checks_from(outcome)


def checks_from(outcome) -> list[PriceCheck]:
    """Every URL's outcome from the value of a final `nike_flow` state: its checks, or the `PriceCheckFailed`."""
    if isinstance(outcome, PriceCheckFailed):
        return outcome.checks
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def where(url: str) -> str:
    """Host and path of `url`: how the table names a URL that could not be checked."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" or url


def format_table(checks: list[PriceCheck]) -> str:
    """A plain-text table: product, price, decision (or why it could not be checked)."""
    rows = [("product", "price", "decision")]
    for check in checks:
        price = f"{check.price} {check.currency or ''}".strip() if check.price is not None else "-"
        reason = check.error.removeprefix(f"{check.url}: ") if check.error else None
        drop = f" (down from {check.previous_price})" if check.dropped else ""
        rows.append(
            (
                page_name(check.url) if check.price is not None else where(check.url),
                price,
                (reason or check.message or "") + drop,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows)


def _settings_for_this_process() -> dict:
    """On Prefect's temporary server (no API URL set), no flow-run heartbeats: that server ends with this
    process, so nobody would watch them, and a sync run waits up to a second for its heartbeat thread."""
    if get_current_settings().api.url is None:
        return {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    return {}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from flow_code.serve import main as serve_main

        return serve_main(argv[1:])
    if argv[:1] == ["automations"]:
        from flow_code.automations import main as automations_main

        return automations_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m flow_code.nike_flow",
        description="Check shoe prices against a budget and print a table. With no URL, checks the offline "
        "demo shop. Exit status 1 when a URL could not be checked.",
        epilog="subcommands:\n"
        "  serve        serve the flow on a schedule (python -m flow_code.nike_flow serve --help)\n"
        "  automations  install the automation 'Shoe price dropped' on the server (... automations --help)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="product pages (default: the demo shop's)")
    parser.add_argument("--budget", type=int, default=120, help="the most you will pay (default: 120)")
    parser.add_argument("--retries", type=int, default=3, help="retries per page after a timeout or 5xx (default: 3)")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="seconds between retries (default: 1)")
    parser.add_argument(
        "--requests-per-second", type=float, metavar="R", help="at most R requests a second to each host, all runs"
    )
    args = parser.parse_args(argv)

    shop = None
    if not args.urls:
        from flow_code.kit import demo_shop

        shop = demo_shop.start()
        args.urls = shop.product_urls()
    try:
        temporary_server.ready()  # the main job's temporary server has booted (at once if none was started)
        with temporary_settings(_settings_for_this_process()):
            checks = run_price_check(
                args.urls,
                args.budget,
                retries=args.retries,
                retry_delay_seconds=args.retry_delay,
                requests_per_second=args.requests_per_second,
            )
    finally:
        if shop is not None:
            shop.stop()
    print(format_table(checks))
    return 1 if any(check.error for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
