"""The exercise checks of notebooks 06-10 against the session's Prefect server, the shop and the receiver.

For each exercise: an empty attempt gets a hint (and no exception), and a plausible wrong attempt gets its
own hint. The passing attempt is each notebook's solution, checked in the notebook (`exercise_passed` in
its `results`, asserted by tests/test_notebooks.py).
"""

import asyncio
import uuid
from datetime import timedelta

import pytest
from check_output import hint_for
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.schedules import Cron, Interval, RRule
from prefect_slack import SlackWebhook

from flow_code.fetch import fetch_page
from flow_code.kit import exercises
from flow_code.nike_flow import nike_flow
from flow_code.prices import read_offer

pytestmark = pytest.mark.usefixtures("prefect_api")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def delete_deployment(name: str) -> None:
    with get_client(sync_client=True) as client:
        client.delete_deployment(client.read_deployment_by_name(name).id)


# 06 · a SlackWebhook block, a flow that loads it by name, the block deleted


def test_06_empty_attempt(receiver, capsys):
    exercise = exercises.for_notebook("06", receiver=receiver, block=unique("drops"))
    assert "no flow run since the exercise began has" in hint_for(exercise, capsys)


def test_06_the_webhook_url_as_a_parameter(receiver, capsys):
    exercise = exercises.for_notebook("06", receiver=receiver, block=unique("drops"))

    @flow
    async def price_drops(url: str):
        await SlackWebhook(url=url).notify_async("Prices dropped!")

    asyncio.run(price_drops(receiver.webhook_url))
    assert "has the webhook URL in its parameters" in hint_for(exercise, capsys)


def test_06_the_flow_run_before_the_block_was_saved(receiver, capsys):
    block = unique("drops")
    exercise = exercises.for_notebook("06", receiver=receiver, block=block)

    @flow
    async def price_drops(slack_webhook_block: str):
        webhook = await SlackWebhook.aload(slack_webhook_block)  # raises: no block of that name yet
        await webhook.notify_async("Prices dropped!")

    asyncio.run(price_drops(block, return_state=True))
    assert f"your flow could not load the block '{block}'" in hint_for(exercise, capsys)


def test_06_the_block_left_on_the_server(receiver, capsys):
    block = unique("drops")
    exercise = exercises.for_notebook("06", receiver=receiver, block=block)

    @flow
    async def price_drops(slack_webhook_block: str):
        webhook = await SlackWebhook.aload(slack_webhook_block)
        await webhook.notify_async("Prices dropped!")

    asyncio.run(SlackWebhook(url=receiver.webhook_url).asave(block))
    try:
        asyncio.run(price_drops(block))
        assert "now delete the block" in hint_for(exercise, capsys)
    finally:
        asyncio.run(SlackWebhook.adelete(block))


# 07 · the sale: compare_price-99.99 runs, the other comparisons are cached


@task
def find_nike_price(url: str):
    return read_offer(fetch_page(url))


@task(task_run_name="compare_price-{price}")
def compare_price(price, budget: int) -> str:
    return "Buy the shoes! Good deal!" if price <= budget else "Don't buy the shoes. They're too expensive"


@flow(name="My Shoe Price Notification")
async def my_nike_flow(urls: list[str], budget: int) -> list[str]:
    return [compare_price(offer.price, budget) for offer in find_nike_price.map(urls).result()]


def test_07_empty_attempt(shop, receiver, capsys):
    exercise = exercises.for_notebook("07", shop=shop, receiver=receiver, urls=shop.product_urls()[:3])
    assert "no run of your flow 'My Shoe Price Notification'" in hint_for(exercise, capsys)


def test_07_the_flow_run_before_the_sale(shop, receiver, capsys):
    urls = shop.product_urls()[:3]
    exercise = exercises.for_notebook("07", shop=shop, receiver=receiver, urls=urls)
    asyncio.run(my_nike_flow(urls, 120))  # the sale price was never set
    said = hint_for(exercise, capsys)
    assert "compare_price-160.00" in said and "the first product is not on sale" in said


# 08 · the weekend deployment: its pool, RRule and timezone, budget, tags and scheduled runs


def test_08_empty_attempt(capsys):
    exercise = exercises.for_notebook("08", deployment=f"Shoe Price Notification/{unique('weekend')}", pool="pool")
    assert "no deployment 'Shoe Price Notification/weekend-" in hint_for(exercise, capsys)


def test_08_the_rule_without_its_timezone(capsys):
    name, pool = unique("weekend"), unique("pool")
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    exercise = exercises.for_notebook("08", deployment=f"Shoe Price Notification/{name}", pool=pool)
    weekends = RRule("FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=10;BYMINUTE=0")  # the timezone forgotten: UTC
    deployment = nike_flow.to_deployment(name=name, schedules=[weekends], paused=True, work_pool_name=pool)
    deployment.apply()
    try:
        assert "its RRule's timezone is UTC, so 10:00 is 10:00 there" in hint_for(exercise, capsys)
    finally:
        delete_deployment(f"Shoe Price Notification/{name}")
        with get_client(sync_client=True) as client:
            client.delete_work_pool(pool)


# 09 · the seed's schedules as Cron and Interval, on a deployment


def test_09_empty_attempt(capsys):
    exercise = exercises.for_notebook("09", deployment=f"Shoe Price Notification/{unique('seed-schedules')}")
    assert "no deployment 'Shoe Price Notification/seed-schedules-" in hint_for(exercise, capsys)


@pytest.mark.parametrize(
    "schedules, hint",
    [
        ([Cron("30 7 * * *"), Interval(timedelta(hours=6))], "its cron's timezone is UTC"),
        ([Cron("30 7 * * *", timezone="America/New_York"), Interval(6)], "its interval is 0:00:06"),
        ([Cron("30 7 * * 1-5", timezone="America/New_York"), Interval(21600)], "not every day at 07:30"),
    ],
    ids=["cron-without-timezone", "interval-in-seconds", "weekdays-only"],
)
def test_09_wrong_schedules(schedules, hint, capsys):
    name = unique("seed-schedules")
    exercise = exercises.for_notebook("09", deployment=f"Shoe Price Notification/{name}")
    nike_flow.to_deployment(name=name, schedules=schedules, paused=True).apply()
    try:
        assert hint in hint_for(exercise, capsys)
    finally:
        delete_deployment(f"Shoe Price Notification/{name}")


def test_09_the_deployment_not_paused(capsys):
    name = unique("seed-schedules")
    exercise = exercises.for_notebook("09", deployment=f"Shoe Price Notification/{name}")
    schedules = [Cron("30 7 * * *", timezone="America/New_York"), Interval(timedelta(hours=6))]
    nike_flow.to_deployment(name=name, schedules=schedules).apply()  # paused=True forgotten
    try:
        assert "it is not paused" in hint_for(exercise, capsys)
    finally:
        delete_deployment(f"Shoe Price Notification/{name}")  # and the runs the server scheduled


# 10 · the capstone on one Dask thread: its page checks never overlap


def test_10_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("10", shop=shop)
    assert "no run of the capstone on this notebook's shop" in hint_for(exercise, capsys)


def test_10_the_flow_s_own_thread_pool(shop, capsys):
    exercise = exercises.for_notebook("10", shop=shop)
    shop.latency = 0.3  # the pages overlap for sure
    nike_flow(shop.product_urls()[:3], 120)  # no task_runner=DaskTaskRunner(...): the flow's threads
    assert "all 3 page checks ran at the same time" in hint_for(exercise, capsys)
