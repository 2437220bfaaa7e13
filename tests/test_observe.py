"""What the capstone publishes and what reacts to it: artifacts, the price-drop event, the automation that
alerts Slack from the server, and the failure summary a state hook sends. Real server, real receiver."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect_slack import SlackWebhook

from flow_code.automations import AUTOMATION_NAME, install_price_drop_automation
from flow_code.kit.notebook_helpers import flow_run_id
from flow_code.kit.processes import wait_until
from flow_code.nike_flow import GOOD_DEAL, TOO_EXPENSIVE, nike_flow
from flow_code.observe import PRICE_DROPPED, PRICES_KEY, PROGRESS_KEY, SUMMARY_KEY

pytestmark = pytest.mark.usefixtures("prefect_api")
REVOLUTION = "revolution-7-mens-road-running-shoes"


def artifacts_of(state, key: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)])
            )
        )


def test_a_run_publishes_its_prices_as_a_table_and_a_summary(shop, receiver, tmp_path):
    urls = [*shop.product_urls()[:3], f"{shop.url}/t/no-such-shoe/XX-000"]
    state = nike_flow(urls, 120, retry_delay_seconds=0, history_path=str(tmp_path / "h.sqlite"), return_state=True)
    assert state.is_failed() and "1 of 4 URLs failed" in state.message  # published all the same
    [table] = artifacts_of(state, PRICES_KEY)
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [row["url"] for row in rows] == urls  # every URL, in order, the failed one too
    assert rows[-1]["price"] == "" and "HTTP 404" in rows[-1]["decision"]
    assert all(row["budget"] == "120" for row in rows)
    assert all(row["price"] and row["decision"] in (GOOD_DEAL, TOO_EXPENSIVE) for row in rows[:3])
    [summary] = artifacts_of(state, SUMMARY_KEY)
    assert "4 checked" in summary.data and "1 failed" in summary.data
    assert artifacts_of(state, PROGRESS_KEY) == []  # four pages: no progress bar


def test_many_urls_get_a_progress_artifact_that_reaches_100(shop, tmp_path):
    urls = [f"{url}?n={i}" for i, url in enumerate(shop.product_urls() * 2)][:10]
    state = nike_flow(urls, 120, retry_delay_seconds=0, history_path=str(tmp_path / "h.sqlite"), return_state=True)
    assert state.is_completed()
    [progress] = artifacts_of(state, PROGRESS_KEY)
    assert float(progress.data) == 100.0


def test_a_price_drop_emits_an_event_and_the_automation_alerts_slack(shop, receiver, tmp_path):
    block = f"test-drop-alerts-{uuid4().hex[:8]}"
    SlackWebhook(url=receiver.webhook_url).save(block)
    automation, _ = install_price_drop_automation(block)
    _, created = install_price_drop_automation(block)
    with get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(AUTOMATION_NAME)) == 1 and not created  # idempotent
    url = next(url for url in shop.product_urls() if REVOLUTION in url)
    path = str(tmp_path / "h.sqlite")
    nike_flow([url], 100, history_path=path)
    shop.set_price(REVOLUTION, "59.99")
    dropping_run = flow_run_id(nike_flow([url], 100, history_path=path, return_state=True))

    alert = []

    def alerted() -> bool:
        alert[:] = [text for text in receiver.texts() if text.startswith(AUTOMATION_NAME) and url in text]
        return bool(alert)

    try:
        assert wait_until(alerted, 60), receiver.texts()  # sent by the server, after the run ended
        assert len(alert) == 1 and "now 59.99 USD, was 70.00" in alert[0] and url in alert[0]
        dropped = EventFilter(
            event=EventNameFilter(name=[PRICE_DROPPED]), resource=EventResourceFilter(id=[f"shoe.product.{REVOLUTION}"])
        )
        with get_client(sync_client=True) as client:
            events = client.read_events(
                filter=dropped, limit=50
            ).events  # the client's default, 100, is over the server's 50
            [event] = [event for event in events if f"prefect.flow-run.{dropping_run}" in related_ids(event)]
        assert event.payload == {"url": url, "price": "59.99", "previous_price": "70.00", "currency": "USD"}
        assert event.resource["prefect.resource.name"] in alert[0]
    finally:
        with get_client(sync_client=True) as client:
            client.delete_automation(automation.id)
        SlackWebhook.delete(block)


def test_a_failed_run_sends_one_summary_naming_each_failed_url(shop, receiver, tmp_path):
    good, missing = shop.product_urls()[0], f"{shop.url}/t/no-such-shoe/XX-000"
    sold_out = shop.product_urls(in_stock=False)[0]
    retried_flow = nike_flow.with_options(retries=1, retry_delay_seconds=0)
    state = retried_flow(
        [good, missing, sold_out], 200, retry_delay_seconds=0, history_path=str(tmp_path / "h"), return_state=True
    )
    assert state.is_failed()
    summaries = [text for text in receiver.texts() if text.startswith("Price check failed")]
    assert len(summaries) == 1  # one per run, not one per attempt
    assert f"{missing}: HTTP 404" in summaries[0] and f"{sold_out}: sold out" in summaries[0]
    assert good not in summaries[0]


def related_ids(event) -> set[str]:
    return {related.id for related in event.related}
