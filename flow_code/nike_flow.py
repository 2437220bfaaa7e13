"""The capstone: check shoe prices, compare them with a budget, tell Slack.

The seed's `flow_code/nike_flow.py`, on Prefect 3, with the same names:

    from flow_code.nike_flow import nike_flow
    nike_flow(urls, budget=120)

The main job checks the demo shop's products (or the URLs given) and prints a table:

    python -m flow_code.nike_flow [--budget N] [URL ...]
    python -m flow_code.nike_flow serve [--interval SECONDS] [--budget N] URL ...
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, NO_CACHE
from prefect.runtime import task_run as current_task_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_slack import SlackWebhook
from pydantic import BaseModel

from flow_code.fetch import fetch_page
from flow_code.notify import find_slack_webhook
from flow_code.prices import PriceNotFound, parse_price

GOOD_DEAL = "Buy the shoes! Good deal!"
TOO_EXPENSIVE = "Don't buy the shoes. They're too expensive"
MAX_CONCURRENT_PAGES = 16


class PriceCheck(BaseModel):
    """The outcome for one URL: its price and the decision, or why it could not be checked."""

    url: str
    price: Decimal | None = None
    budget: int
    message: str | None = None
    error: str | None = None


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


def is_transient(task, run, state) -> bool:
    """Retry only what may pass on a second try: timeouts, lost connections, 5xx and 429."""
    return getattr(state.data, "transient", False)


@task(retries=3, retry_delay_seconds=10, retry_condition_fn=is_transient, task_run_name=_price_run_name)
def find_nike_price(url: str) -> Decimal:
    """The current price on the product page at `url`."""
    html = fetch_page(url)
    try:
        return parse_price(html)
    except PriceNotFound as exc:
        raise PriceNotFound(f"{url}: {exc}") from None


@task(
    cache_policy=INPUTS,
    cache_expiration=timedelta(days=1),
    persist_result=True,
    task_run_name="compare_price-{price}-{budget}",
)
def compare_price(price: Decimal, budget: int) -> str:
    """The seed's decision: buy when the price is within the budget."""
    if price <= budget:
        return GOOD_DEAL
    return TOO_EXPENSIVE


@task(cache_policy=NO_CACHE, task_run_name="notify_slack-{check.url}")
def notify_slack(webhook: SlackWebhook, check: PriceCheck) -> None:
    """Post one price decision to Slack; an HTTP error from Slack fails this task."""
    webhook.notify(f"{page_name(check.url)}: {check.price} (budget {check.budget}). {check.message} {check.url}")


@flow(
    name="Shoe Price Notification",
    flow_run_name="shoe-prices-budget-{budget}",
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENT_PAGES),
)
def nike_flow(
    urls: list[str],
    budget: int,
    retries: int = 3,
    retry_delay_seconds: float = 10,
    slack_webhook_block: str = "shoe-alerts",
) -> list[PriceCheck]:
    """Check every URL's price concurrently, compare it with `budget` and notify Slack.

    URLs that still fail after their retries do not stop the others; the run then ends Failed
    with a message naming each failed URL and why.
    """
    logger = get_run_logger()
    finder = find_nike_price.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)
    futures = finder.map(urls)
    outcomes = [future.result(raise_on_failure=False) for future in futures]
    checks = [_decide(url, outcome, budget) for url, outcome in zip(urls, outcomes, strict=True)]

    webhook = find_slack_webhook(slack_webhook_block)
    if webhook is None:
        logger.info(
            "Slack notification skipped: set SLACK_WEBHOOK_URL or save a SlackWebhook block named %r",
            slack_webhook_block,
        )
    else:
        for check in checks:
            if check.price is not None:
                _notify(webhook, check)

    if any(check.error for check in checks):
        raise PriceCheckFailed(checks)
    return checks


def _decide(url: str, price_or_error: Decimal | BaseException, budget: int) -> PriceCheck:
    if isinstance(price_or_error, BaseException):
        return PriceCheck(url=url, budget=budget, error=_reason(url, price_or_error))
    return PriceCheck(url=url, price=price_or_error, budget=budget, message=compare_price(price_or_error, budget))


def _notify(webhook: SlackWebhook, check: PriceCheck) -> None:
    state = notify_slack(webhook, check, return_state=True)
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
    """Every URL's outcome from a final `nike_flow` state, Completed or Failed."""
    # _sync=True: a plain value even where an event loop runs (a Jupyter kernel), where
    # `state.result()` would hand back a coroutine.
    outcome = state.result(raise_on_failure=False, _sync=True)
    if isinstance(outcome, PriceCheckFailed):
        return outcome.checks
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def format_table(checks: list[PriceCheck]) -> str:
    """A plain-text table: product, price, decision (or why it could not be checked)."""
    rows = [("product", "price", "decision")]
    for check in checks:
        price = f"{check.price}" if check.price is not None else "-"
        reason = check.error.removeprefix(f"{check.url}: ") if check.error else None
        rows.append((page_name(check.url), price, reason or check.message or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from flow_code.serve import main as serve_main

        return serve_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m flow_code.nike_flow",
        description="Check shoe prices against a budget. With no URL, checks the offline demo shop.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="product pages (default: the demo shop's)")
    parser.add_argument("--budget", type=int, default=120, help="the most you will pay (default: 120)")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--retry-delay", type=float, default=1.0, help="seconds between retries (default: 1)")
    args = parser.parse_args(argv)

    shop = None
    if not args.urls:
        from flow_code import demo_shop

        shop = demo_shop.start()
        args.urls = shop.product_urls()
    try:
        checks = run_price_check(args.urls, args.budget, retries=args.retries, retry_delay_seconds=args.retry_delay)
    finally:
        if shop is not None:
            shop.stop()
    print(format_table(checks))
    return 1 if any(check.error for check in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
