"""The capstone flow against the demo shop, the Slack receiver and the test session's Prefect server."""

import json
import os
import signal
import threading
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from uuid import uuid4

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import TaskRunSort
from prefect.deployments import run_deployment
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter
from prefect.exceptions import ParameterTypeError
from prefect.states import AwaitingRetry
from prefect_slack import SlackWebhook

from flow_code.kit import slack_receiver
from flow_code.kit.demo_shop import CATALOG
from flow_code.kit.notebook_helpers import read_flow_run, read_task_runs, task_run_states
from flow_code.kit.processes import REPO, BackgroundProcess, prefect_command, wait_until
from flow_code.nike_flow import (
    GOOD_DEAL,
    TOO_EXPENSIVE,
    checks_of,
    compare_price,
    nike_flow,
    page_name,
    run_price_check,
)

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
    assert f"run '{flow_run.name}'" in summary and flow_run.name.startswith("shoe-prices-budget-")  # its own name


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


def test_compare_price_decides_at_the_budget():
    """The decision alone: `.fn` is the plain function (no task run, no cache)."""
    assert compare_price.fn(Decimal("110.00"), 110) == GOOD_DEAL
    assert compare_price.fn(Decimal("110.01"), 110) == TOO_EXPENSIVE


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


# --- A run killed mid-way, then retried as the UI's Retry does (issue #14: one Slack message per run and URL) ---
#
# notify_slack's cache key is the flow run and the URL (`one_message_per_run_and_url`): a retried run of the
# same flow run finds the result of a message it had posted and does not post it again (task run Cached).
# The run here is a deployment run, SIGKILLed while its second message is at Slack (taken, not yet answered),
# then retried by a worker. Three URLs, three cases: posted and answered before the kill, at Slack during the
# kill, not posted yet.

KILLED_RUN_POOL = "killed-run-pool"


class HoldingHandler(slack_receiver.WebhookHandler):
    """Answers the first message; holds each later one, taken but not posted, until the receiver releases it."""

    def do_POST(self):
        receiver = self.app
        body = self.read_body()  # Slack has the message once it has read the request
        with receiver.lock:
            receiver.arrived += 1
            hold = receiver.arrived > 1
        if hold:
            receiver.holding.set()
            receiver.released.wait(300)
        receiver.record(self.path, json.loads(body or b"{}"))
        self.send_body(200, b"ok", "text/plain")  # to a killed sender: a broken pipe, ignored


class HeldMessageReceiver(slack_receiver.SlackReceiver):
    """A Slack receiver that answers the first message and holds the later ones until `release()`, then
    posts them: as Slack posts a message whose sender died before the answer."""

    handler = HoldingHandler

    def __init__(self):
        self.arrived, self.lock = 0, threading.Lock()
        self.holding, self.released = threading.Event(), threading.Event()
        super().__init__()

    def release(self) -> None:
        self.released.set()


def flow_run_processes(flow_run_id) -> list[int]:
    """The processes running the flow run: a worker gives its flow-run process `PREFECT__FLOW_RUN_ID`."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def worker_is_done_with(client, flow_run_id) -> bool:
    """Has the worker emitted `prefect.worker.executed-flow-run` for the flow run (its attempt is over)?

    The filter is made at each call: its `occurred.until` defaults to the moment it is made."""
    executed = EventFilter(
        event=EventNameFilter(name=["prefect.worker.executed-flow-run"]),
        any_resource=EventAnyResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    return bool(client.read_events(filter=executed, limit=50).events)


def notify_runs(flow_run_id) -> list:
    """The flow run's notify_slack task runs as the API has them now, oldest first."""
    this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=this_run, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
    return [run for run in runs if run.name.startswith("notify_slack-")]


def notifying(flow_run_id, url: str) -> bool:
    """Is the URL's notify_slack task run Running in the API (its message is on its way)?"""
    name = f"notify_slack-{page_name(url)}"
    return [run.state and run.state.name for run in notify_runs(flow_run_id) if run.name == name] == ["Running"]


def notify_states(flow_run_id, urls: list[str], settle_seconds: float = 30) -> dict[str, list[str]]:
    """`{url: [state name of each notify_slack task run, oldest first]}`, once the retry's runs are all final."""
    names = {f"notify_slack-{page_name(url)}": url for url in urls}
    states = {}

    def settled() -> bool:
        runs = [run for run in notify_runs(flow_run_id) if run.name in names]
        states.clear()
        for run in runs:
            states.setdefault(names[run.name], []).append(run.state.name if run.state else "")
        last = {names[run.name]: run.state for run in runs}  # oldest first: the last one is the retry's
        return len(last) == len(urls) and all(state and state.is_final() for state in last.values())

    wait_until(settled, settle_seconds)
    return states


@pytest.fixture(scope="module")
def killed_then_retried(_shop, prefect_api):
    """Deploy the capstone, SIGKILL its run while the second Slack message is at Slack, retry the same flow
    run as the UI's Retry does, and collect what the receiver got and what the API says."""
    shop = _shop
    shop.reset()
    urls = shop.product_urls()[:3]
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=KILLED_RUN_POOL, type="process"), overwrite=True)
    deployment_id = nike_flow.from_source(str(REPO), "flow_code/nike_flow.py:nike_flow").deploy(
        name="killed-run", work_pool_name=KILLED_RUN_POOL, print_next_steps=False, ignore_warnings=True
    )
    fast_polling = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    try:
        with (
            HeldMessageReceiver() as receiver,
            BackgroundProcess(
                prefect_command("worker", "start", "--pool", KILLED_RUN_POOL),
                env={**fast_polling, "SLACK_WEBHOOK_URL": receiver.webhook_url},
            ) as worker,
            get_client(sync_client=True) as client,
        ):
            flow_run = run_deployment(deployment_id, parameters={"urls": urls, "budget": 150}, timeout=0)
            assert receiver.holding.wait(240), f"no second message reached Slack\n{worker.log_tail()}"
            assert wait_until(lambda: notifying(flow_run.id, urls[1]), 30), worker.log_tail()
            processes = flow_run_processes(flow_run.id)
            assert processes, worker.log_tail()
            for pid in processes:
                os.kill(pid, signal.SIGKILL)
            receiver.release()  # Slack posts the message it had taken
            assert wait_until(lambda: client.read_flow_run(flow_run.id).state.is_crashed(), 60), worker.log_tail()
            crashed = client.read_flow_run(flow_run.id)
            # A process worker reports the crash twice: once when the process exits, again after the run's
            # on_crashed hooks ran (11 s later, measured): a retry in between was marked Crashed again.
            assert wait_until(lambda: worker_is_done_with(client, flow_run.id), 120), worker.log_tail()
            retried = client.set_flow_run_state(flow_run.id, AwaitingRetry(message="Retry from the UI"), force=False)
            assert retried.status.value == "ACCEPT", retried.details
            assert wait_until(lambda: client.read_flow_run(flow_run.id).state.is_final(), 240), worker.log_tail()
            final = client.read_flow_run(flow_run.id)
            yield SimpleNamespace(
                urls=urls,
                crashed=crashed,
                final=final,
                notified=notify_states(flow_run.id, urls),
                texts=receiver.texts(),
                log=worker.log_tail(),
            )
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
            client.delete_work_pool(KILLED_RUN_POOL)


def messages_about(texts: list[str], url: str) -> int:
    return sum(text.startswith(f"{page_name(url)}:") for text in texts)


def test_a_killed_run_retried_posts_no_message_twice_that_it_had_posted(killed_then_retried):
    run = killed_then_retried
    answered, at_slack, not_yet_posted = run.urls
    assert run.crashed.state.type == StateType.CRASHED and "-9" in run.crashed.state.message
    assert run.final.state.type == StateType.COMPLETED and run.final.run_count == 2, run.log
    assert run.notified[answered] == ["Completed", "Cached"]  # the retry found the message it had sent
    assert messages_about(run.texts, answered) == 1
    assert run.notified[not_yet_posted] == ["Completed"]  # posted by the retry only
    assert run.notified[at_slack] == ["Running", "Completed"]  # killed during its post; the retry posted again
    assert messages_about(run.texts, not_yet_posted) == 1
    summaries = [text for text in run.texts if text.startswith("Price check failed")]
    assert len(summaries) == 1 and "ended Crashed" in summaries[0]  # the on_crashed hook, run by the worker


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="at least once, not exactly once: a message Slack took while its run was killed is posted again by "
    "the retry (measured: 2 messages). Its notify_slack task run never finished (it stays Running in the API), "
    "so no result is stored under its cache key and the retried task runs again.",
)
def test_a_message_at_slack_when_the_run_is_killed_is_posted_once(killed_then_retried):
    run = killed_then_retried
    assert messages_about(run.texts, run.urls[1]) == 1, run.texts
