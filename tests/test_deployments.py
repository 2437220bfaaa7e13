"""prefect.yaml, `prefect deploy`, a real worker and a real `serve` process against the test server."""

import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect_cli import prefect_cli

from flow_code.kit.notebook_helpers import next_run_times
from flow_code.kit.processes import REPO, prefect_command

pytestmark = pytest.mark.usefixtures("prefect_api")
FLOW = "Shoe Price Notification"
FAST_POLLING = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


@pytest.fixture(scope="module")
def deployed():
    """`prefect work-pool create` and `prefect deploy --all`, as the README says."""
    prefect_cli("work-pool", "create", "shoe-pool", "--type", "process", "--overwrite")
    prefect_cli("deploy", "--all")
    with get_client(sync_client=True) as client:
        return {
            d.name: d
            for d in client.read_deployments()
            if d.name in {"daily-price-check", "weekday-morning-check", "weekend-sale-check"}
        }


def test_prefect_deploy_all_creates_three_scheduled_deployments(deployed):
    assert sorted(deployed) == ["daily-price-check", "weekday-morning-check", "weekend-sale-check"]
    kinds = {name: type(d.schedules[0].schedule).__name__ for name, d in deployed.items()}
    assert kinds == {
        "daily-price-check": "IntervalSchedule",
        "weekday-morning-check": "CronSchedule",
        "weekend-sale-check": "RRuleSchedule",
    }
    assert all(d.work_pool_name == "shoe-pool" and d.schedules[0].active for d in deployed.values())
    assert deployed["daily-price-check"].parameters["urls"][0].startswith("http://127.0.0.1:8000/t/")

    daily = next_run_times(deployed["daily-price-check"].schedules[0].schedule, n=2)
    assert (daily[1] - daily[0]).total_seconds() == 86400
    new_york = ZoneInfo("America/New_York")
    for when in next_run_times(deployed["weekday-morning-check"].schedules[0].schedule, n=7):
        local = when.astimezone(new_york)
        assert local.weekday() < 5 and (local.hour, local.minute) == (9, 0), local
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 1, 1, tzinfo=paris)  # a Thursday
    weekend = [
        w.astimezone(paris)
        for w in next_run_times(deployed["weekend-sale-check"].schedules[0].schedule, n=4, start=start)
    ]
    assert [(w.strftime("%a %H:%M")) for w in weekend] == ["Sat 10:00", "Sun 10:00"] * 2


def test_a_worker_runs_a_deployment_with_parameters(deployed, process, shop, receiver):
    worker = process(
        prefect_command("worker", "start", "--pool", "shoe-pool"),
        **FAST_POLLING,
        SLACK_WEBHOOK_URL=receiver.webhook_url,
    )
    urls = shop.product_urls()[:3]
    flow_run = run_deployment(f"{FLOW}/daily-price-check", parameters={"urls": urls, "budget": 150}, timeout=180)
    assert flow_run.state.is_completed(), f"{flow_run.state!r}\n{worker.log_tail()}"
    assert flow_run.parameters["budget"] == 150
    assert sorted(text.split(":")[0] for text in receiver.texts()) == sorted(url.split("/")[-2] for url in urls)
    assert all("(budget 150)" in text for text in receiver.texts())
    assert all(shop.requests_for(url) == 1 for url in urls)


def test_a_serve_process_runs_a_triggered_run(process, shop, receiver):
    urls = shop.product_urls()[3:5]
    served = process(
        [sys.executable, "-m", "flow_code.nike_flow", "serve", "--name", "test-serve", "--cron", "0 9 * * 1", *urls],
        **FAST_POLLING,
        SLACK_WEBHOOK_URL=receiver.webhook_url,
    )
    with get_client(sync_client=True) as client:

        def deployed() -> bool:
            try:
                return bool(client.read_deployment_by_name(f"{FLOW}/test-serve"))
            except ObjectNotFound:
                return False

        served.wait_until_ready(deployed, "the serve process's deployment", timeout=90)
    flow_run = run_deployment(f"{FLOW}/test-serve", parameters={"budget": 71}, timeout=120)
    assert flow_run.state.is_completed(), f"{flow_run.state!r}\n{served.log_tail()}"
    texts = [text for text in receiver.texts() if "(budget 71)" in text]
    assert len(texts) == 2 and any("revolution-7" in text and "Buy the shoes!" in text for text in texts)


def test_a_run_with_invalid_parameters_is_rejected(deployed):
    with pytest.raises(PrefectHTTPStatusError) as caught:
        run_deployment(f"{FLOW}/weekday-morning-check", parameters={"budget": "lots"}, timeout=0)
    assert "budget" in str(caught.value) and "'lots' is not of type 'integer'" in str(caught.value)
    done = subprocess.run(
        prefect_command("deployment", "run", f"{FLOW}/weekday-morning-check", "-p", "budget=lots"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "budget" in done.stdout + done.stderr
