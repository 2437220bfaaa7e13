"""The objects the course links to in the Prefect UI, made with the kit's real code on the server of
PREFECT_API_URL (tests/test_ui_pages.py runs this in a process of its own, so its runs, logs and events
go to the UI test's server and not to the test session's):

    python tests/ui_objects.py WEBHOOK_URL HISTORY_PATH

makes the SlackWebhook block `shoe-alerts`, the automation "Shoe price dropped", two capstone runs (a
lower price in between: the `shoe-prices` artifact and a `shoe.price.dropped` event), a task run that
retries against a flaky shop page (notebook 02) and a deployment with a schedule on a process pool, and
prints their ids as one JSON line. Then a flow run (notebook 14's `buy_shoe`) pauses until someone answers
its Approval form (the UI's Resume button); what it returns is printed as a last JSON line and the process ends.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from datetime import datetime, timedelta

import requests
from prefect import Flow, flow, get_run_logger, pause_flow_run, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.input import RunInput
from prefect.schedules import Interval
from prefect_slack import SlackWebhook

from flow_code.automations import install_price_drop_automation
from flow_code.kit import demo_shop
from flow_code.kit.processes import REPO
from flow_code.nike_flow import nike_flow
from flow_code.prices import parse_price

BLOCK = "shoe-alerts"
POOL = "shoe-pool"
DEPLOYMENT = "daily-price-check"
BUDGET = 100
DROPPING = "revolution-7-mens-road-running-shoes"  # 70.00 in the shop, 60.00 on the second run
WATCHED = ["pegasus-trail-3-gore-tex-mens-running-shoes", DROPPING, "court-vision-low-next-nature-mens-shoes"]


@task(retries=3, retry_delay_seconds=0.2)
def fetch_price(url: str):
    """Notebook 02's task: a page answering 503 fails the try; Prefect runs it again."""
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return parse_price(response.text)


@flow
def check_price(url: str):
    return fetch_price(url, return_state=True)


class Approval(RunInput):
    """Notebook 14's question to a person: buy over the budget, up to what price?"""

    approve: bool
    max_price: int
    note: str = ""


@flow
def buy_shoe(url: str, budget: int) -> dict:
    """Notebook 14's flow: over the budget, pause until someone answers the Approval form (the UI's Resume)."""
    price = fetch_price(url)
    question = Approval.with_initial_data(
        description=f"**{url.split('/')[-2]}** costs {price}, over the budget of {budget}. Buy it anyway?",
        max_price=budget,
    )
    answer = pause_flow_run(wait_for_input=question, timeout=600, poll_interval=1)
    get_run_logger().info("the answer: %s", answer)
    return {**answer.model_dump(include={"approve", "max_price"}), "price": str(price)}


def wait_for_approval() -> dict:
    """A run of `buy_shoe` over its budget, paused until it is answered; what it returns."""
    shop = demo_shop.start()
    try:
        return buy_shoe(next(url for url in shop.product_urls() if f"/t/{DROPPING}/" in url), 50)
    finally:
        shop.stop()


def make_capstone_runs(history_path: str) -> dict:
    """Two runs of the capstone; the second sees a lower price, publishes it and emits the drop event."""
    shop = demo_shop.start()
    try:
        urls = [url for slug in WATCHED for url in shop.product_urls() if f"/t/{slug}/" in url]
        nike_flow(urls, BUDGET, history_path=history_path)
        shop.set_price(DROPPING, "60.00")
        state = nike_flow(urls, BUDGET, history_path=history_path, return_state=True)
    finally:
        shop.stop()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    return {"flow_run": str(run.id), "flow_run_name": run.name, "flow_run_state": run.state.name, "urls": urls}


def make_retried_task_run() -> dict:
    """Notebook 02's flaky page: the first two requests answer 503, the third try works."""
    shop = demo_shop.start(fail_first=2)
    try:
        state = check_price(shop.product_urls()[3], return_state=True)
    finally:
        shop.stop()
    task_run = final_task_run(state.state_details.flow_run_id)
    return {"task_run": str(task_run.id), "task_run_name": task_run.name, "task_run_count": task_run.run_count}


def final_task_run(flow_run_id, seconds: float = 30):
    """The flow run's one task run once its final state reached the API (task states travel as events)."""
    this_flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            task_runs = client.read_task_runs(flow_run_filter=this_flow_run)
            if task_runs and task_runs[0].state.is_final() or time.monotonic() > deadline:
                return task_runs[0]
            time.sleep(0.2)


def make_deployment(urls: list[str]) -> dict:
    """The capstone deployed from the repo (notebook 08's way) on a process pool, once a day at 07:00 UTC."""
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
    every_day = Interval(timedelta(days=1), anchor_date=datetime(2026, 1, 1, 7, 0), timezone="UTC")
    from_repo = Flow.from_source(source=str(REPO), entrypoint="flow_code/nike_flow.py:nike_flow")
    with warnings.catch_warnings(action="ignore", category=UserWarning):
        deployment_id = from_repo.deploy(
            name=DEPLOYMENT,
            work_pool_name=POOL,
            schedules=[every_day],
            parameters={"urls": urls, "budget": 120},
            tags=["workshop", "daily"],
            print_next_steps=False,
            ignore_warnings=True,
        )
    return {"deployment": str(deployment_id), "deployment_name": DEPLOYMENT, "pool": POOL}


def make_everything(webhook_url: str, history_path: str) -> dict:
    block_id = SlackWebhook(url=webhook_url).save(BLOCK, overwrite=True)
    automation, _ = install_price_drop_automation(BLOCK)
    made = {"block": str(block_id), "block_name": BLOCK, "automation": str(automation.id)}
    made |= make_capstone_runs(history_path)
    made |= make_retried_task_run()
    made |= make_deployment(made["urls"])
    return made


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {__doc__}")
    print(json.dumps(make_everything(*sys.argv[1:])), flush=True)
    print(json.dumps(wait_for_approval()), flush=True)
