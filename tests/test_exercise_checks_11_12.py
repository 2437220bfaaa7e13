"""The exercise checks of notebooks 11 (artifacts and events) and 12 (automations), against the session's
real server: an empty attempt and plausible wrong attempts each get their hint (a passing attempt is the
notebooks' own solution, run by their tests). And the automation of notebook 12 on flow-run states: a
Failed run really reaches the Slack receiver, sent by the server."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.automations import Automation, EventTrigger, Posture, SendNotification
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventIDFilter
from prefect.states import Failed
from prefect_slack import SlackWebhook

from flow_code.kit import exercises
from flow_code.kit.notebook_helpers import read_flow_run
from flow_code.kit.processes import wait_until

pytestmark = pytest.mark.usefixtures("prefect_api")
BUDGET = 120


def checked(exercise, capsys) -> str:
    """What `exercise.check()` printed; it must not raise, and must not pass."""
    assert exercise.check() is False
    return capsys.readouterr().out


@pytest.fixture
def prefix() -> str:
    """Names apart from every other test's and notebook's."""
    return f"test-{uuid4().hex[:8]}"


@pytest.fixture
def block(receiver, prefix):
    """A SlackWebhook block to the test's receiver: its id."""
    block_id = SlackWebhook(url=receiver.webhook_url).save(f"{prefix}-alerts")
    yield block_id
    SlackWebhook.delete(f"{prefix}-alerts")


def deals(shop) -> list:
    return [product for product in shop.products.values() if product.in_stock and product.price <= BUDGET]


# --- notebook 11: a table artifact of the deals, and one shoe.deal.found event per deal ---------------


def test_11_an_empty_attempt_gets_a_hint(shop, prefix, capsys):
    exercise = exercises.for_notebook("11", shop=shop, budget=BUDGET, prefix=prefix)
    assert f"no artifact with the key `{prefix}-deals` since the exercise began" in checked(exercise, capsys)


def test_11_a_table_of_every_product_is_told_to_keep_the_deals(shop, prefix, capsys):
    exercise = exercises.for_notebook("11", shop=shop, budget=BUDGET, prefix=prefix)

    @flow
    async def every_product():
        rows = [{"product": product.name, "price": str(product.price)} for product in shop.products.values()]
        await acreate_table_artifact(rows, key=f"{prefix}-deals")

    asyncio.run(every_product())
    assert "your table has a row for every product (7)" in checked(exercise, capsys)


def test_11_a_table_of_decimals_is_told_its_run_failed_and_why(shop, prefix, capsys):
    exercise = exercises.for_notebook("11", shop=shop, budget=BUDGET, prefix=prefix)

    @flow
    async def deals_with_decimal_prices(urls: list[str]):
        rows = [{"product": product.name, "price": product.price} for product in deals(shop)]
        await acreate_table_artifact(rows, key=f"{prefix}-deals")

    assert asyncio.run(deals_with_decimal_prices(shop.product_urls(), return_state=True)).is_failed()
    hint = checked(exercise, capsys)
    assert f"no `{prefix}-deals` yet: your latest flow run ended Failed:" in hint
    assert "Object of type Decimal is not JSON serializable" in hint
    assert "write a price as `str(offer.price)`" in hint


def test_11_a_markdown_list_is_told_to_be_a_table(shop, prefix, capsys):
    exercise = exercises.for_notebook("11", shop=shop, budget=BUDGET, prefix=prefix)

    @flow
    async def deals_as_markdown():
        await acreate_markdown_artifact("\n".join(f"- {p.name}" for p in deals(shop)), key=f"{prefix}-deals")

    asyncio.run(deals_as_markdown())
    assert f"`{prefix}-deals` is a markdown artifact" in checked(exercise, capsys)


def test_11_events_about_the_shop_are_told_to_be_about_each_product(shop, prefix, capsys):
    exercise = exercises.for_notebook("11", shop=shop, budget=BUDGET, prefix=prefix)

    @flow
    async def events_about_the_shop():
        rows = [{"product": product.name, "price": str(product.price)} for product in deals(shop)]
        await acreate_table_artifact(rows, key=f"{prefix}-deals")
        for row in rows:
            emit_event(event="shoe.deal.found", resource={"prefect.resource.id": "shoe.shop.demo"}, payload=row)

    asyncio.run(events_about_the_shop())
    assert "the events are about ['shoe.shop.demo', " in checked(exercise, capsys)


# --- notebook 12: an automation on shoe.sold.out that names the product --------------------------------


def sold_out_automation(prefix: str, block_id, expect: str = "shoe.sold.out") -> Automation:
    return Automation(
        name=f"{prefix}: sold out",
        trigger=EventTrigger(
            expect={expect}, match={"prefect.resource.id": "shoe.product.*"}, posture=Posture.Reactive
        ),
        actions=[SendNotification(block_document_id=block_id, subject="Sold out", body="{{ event.resource.id }}")],
    )


@flow
async def report_sold_out(product: str):
    return emit_event(
        event="shoe.sold.out",
        resource={"prefect.resource.id": "shoe.product.air-jordan", "prefect.resource.name": product},
    )


def test_12_an_empty_attempt_gets_a_hint(shop, receiver, block, prefix, capsys):
    exercise = exercises.for_notebook("12", receiver=receiver, block_id=block, prefix=prefix, shop=shop)
    assert f"no automation named `{prefix}: sold out` on the server yet" in checked(exercise, capsys)


def test_12_an_automation_on_another_event_name_is_told_the_name(shop, receiver, block, prefix, capsys):
    exercise = exercises.for_notebook("12", receiver=receiver, block_id=block, prefix=prefix, shop=shop)
    automation = sold_out_automation(prefix, block, expect="shoe.soldout").create()
    try:
        assert "your automation expects ['shoe.soldout']: the event is called `shoe.sold.out`" in checked(
            exercise, capsys
        )
    finally:
        automation.delete()


def stored(event) -> bool:
    """Is the event in the server's database (so the server has seen it)?"""
    with get_client(sync_client=True) as client:
        return bool(client.read_events(filter=EventFilter(id=EventIDFilter(id=[event.id])), limit=50).events)


def test_12_an_event_sent_before_the_automation_is_told_to_come_after(shop, receiver, block, prefix, capsys):
    exercise = exercises.for_notebook("12", receiver=receiver, block_id=block, prefix=prefix, shop=shop)
    event = asyncio.run(report_sold_out("Air Jordan 1 Retro High OG"))
    assert wait_until(lambda: stored(event), 30)
    automation = sold_out_automation(prefix, block).create()
    try:
        assert "the automation did not fire: it was made after your event" in checked(exercise, capsys)
    finally:
        automation.delete()


# --- notebook 12, section 2: a Failed run alerts Slack, from the server ---------------------------------


def test_the_automation_on_failed_runs_sends_the_run_and_its_message(shop, receiver, block, prefix):
    flow_name = f"{prefix}-check-one-price"
    automation = Automation(
        name=f"{prefix}: price check failed",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": flow_name},
            posture=Posture.Reactive,
        ),
        actions=[
            SendNotification(
                block_document_id=block,
                subject="Run failed",
                body="Flow run '{{ flow_run.name }}' of {{ flow.name }} ended {{ flow_run.state.name }}: "
                "{{ flow_run.state.message }}",
            )
        ],
    ).create()

    @flow(name=flow_name)
    async def check_one_price(url: str):
        return Failed(message=f"{url}: HTTP 404 Not Found")

    @flow(name=f"{prefix}-another-flow")
    async def another_flow():
        return Failed(message="not watched")

    try:
        asyncio.run(another_flow(return_state=True))
        state = asyncio.run(check_one_price(f"{shop.url}/t/gone", return_state=True))
        assert state.is_failed()
        run_name = read_flow_run(state).name
        wanted = f"Run failed\nFlow run '{run_name}' of {flow_name} ended Failed: {shop.url}/t/gone: HTTP 404 Not Found"
        assert wait_until(lambda: wanted in receiver.texts(), 30), receiver.texts()  # sent by the server
        assert receiver.texts() == [wanted]  # the other flow's failure is not watched
    finally:
        automation.delete()
