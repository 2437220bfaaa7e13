"""prefect.yaml and `prefect deploy` against the test server: schedules, parameters, validation.

A real worker and a real `serve` process running deployments are checked by notebook 07 (nbval compares
its committed outputs: run states, parameters, Slack messages; papermill runs it with another budget) and,
with two workers on PostgreSQL, by test_production.py.
"""

import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import PrefectHTTPStatusError
from prefect_cli import prefect_cli

from flow_code.background import REPO, prefect_command
from flow_code.schedules import next_run_times

pytestmark = pytest.mark.usefixtures("prefect_api")
FLOW = "Shoe Price Notification"


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
