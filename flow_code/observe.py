"""What a run of the capstone publishes for people and for automations: artifacts and price-drop events.

    publish_prices(checks)      # the table artifact `shoe-prices` (one row per URL) and a markdown summary
    PageProgress(len(urls))     # a progress artifact that moves as pages finish (many URLs only)
    emit_price_drop(check)      # the event `shoe.price.dropped`, for the "Shoe price dropped" automation

Artifacts are kept by the Prefect server with the flow run (the UI's Artifacts page); the latest one of a
key is what `prefect artifact inspect shoe-prices` shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event

if TYPE_CHECKING:
    from flow_code.nike_flow import PriceCheck

PRICES_KEY = "shoe-prices"
SUMMARY_KEY = "shoe-prices-summary"
PROGRESS_KEY = "shoe-prices-progress"
PRICE_DROPPED = "shoe.price.dropped"
PROGRESS_FROM_URLS = 10  # fewer pages finish too fast for a progress bar to tell anything


def price_rows(checks: list[PriceCheck]) -> list[dict[str, str]]:
    """One row per URL: product, URL, price, currency, budget, and the decision or the error."""
    return [
        {
            "product": check.product or "",
            "url": check.url,
            "price": "" if check.price is None else str(check.price),
            "currency": check.currency or "",
            "budget": str(check.budget),
            "decision": check.error or check.message or "",
        }
        for check in checks
    ]


def summary_markdown(checks: list[PriceCheck]) -> str:
    """A few lines for the run's page: counts, the good deals, the price drops and the failures."""
    deals = [check for check in checks if check.price is not None and check.message and "Buy" in check.message]
    drops = [check for check in checks if check.dropped]
    failed = [check for check in checks if check.error]
    lines = [f"# Shoe prices: {len(checks)} checked, {len(deals)} good deal(s), {len(failed)} failed", ""]
    lines += [f"- Good deal: **{check.product}** {check.price} {check.currency or ''} ({check.url})" for check in deals]
    lines += [f"- Price drop: **{check.product}** {check.previous_price} → {check.price}" for check in drops]
    lines += [f"- Failed: {check.error}" for check in failed]
    return "\n".join(lines)


def publish_prices(checks: list[PriceCheck]) -> None:
    """The table artifact `shoe-prices` and the markdown summary of this run."""
    budget = checks[0].budget if checks else ""
    create_table_artifact(price_rows(checks), key=PRICES_KEY, description=f"Shoe prices against a budget of {budget}")
    create_markdown_artifact(summary_markdown(checks), key=SUMMARY_KEY, description="What this run found")


class PageProgress:
    """A progress artifact for runs of many URLs: `advance()` as each page finishes."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.artifact_id = None
        if total >= PROGRESS_FROM_URLS:
            self.artifact_id = create_progress_artifact(0.0, key=PROGRESS_KEY, description=f"{total} pages")

    def advance(self) -> None:
        self.done += 1
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, 100.0 * self.done / self.total)


def product_resource(check: PriceCheck) -> dict[str, str]:
    """The event's resource: the product, by its page's slug."""
    from flow_code.nike_flow import page_name

    return {"prefect.resource.id": f"shoe.product.{page_name(check.url)}", "prefect.resource.name": check.product or ""}


def emit_price_drop(check: PriceCheck):
    """`shoe.price.dropped` for a price lower than the previous observation (None when it is not)."""
    if not check.dropped:
        return None
    payload = {
        "url": check.url,
        "price": str(check.price),
        "previous_price": str(check.previous_price),
        "currency": check.currency or "",
    }
    return emit_event(event=PRICE_DROPPED, resource=product_resource(check), payload=payload)
