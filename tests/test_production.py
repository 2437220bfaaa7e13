"""The production layout: a Prefect server on PostgreSQL, two process workers on one pool, a burst of runs.

Every run must end Completed, each run exactly once (one worker, one attempt, one Slack message).
"""

from __future__ import annotations

import re

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect_cli import prefect_cli

from flow_code.kit.postgres import TemporaryPostgres, postgres_bin
from flow_code.kit.processes import PrefectServer, prefect_command, wait_until

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed (.ci/run installs it)")
BURST = 4
PER_WORKER = BURST // 2  # `--limit`: each worker runs at most this many at once, so both must take part


@pytest.fixture(scope="module")
def production_server():
    """PostgreSQL on loopback and a `prefect server start` that keeps its data there."""
    with TemporaryPostgres() as database:
        env = {"PREFECT_API_DATABASE_CONNECTION_URL": database.prefect_url}
        with PrefectServer(ui=False, env=env) as server:
            yield server


def test_two_workers_drain_a_burst_of_runs_once_each(production_server, process, shop, receiver, tmp_path):
    api_url = production_server.api_url
    prefect_cli("work-pool", "create", "shoe-pool", "--type", "process", "--overwrite", PREFECT_API_URL=api_url)
    prefect_cli("deploy", "--name", "daily-price-check", PREFECT_API_URL=api_url)

    url = shop.product_urls()[3]
    env = {
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PRICE_HISTORY_PATH": str(tmp_path / "prices.sqlite"),
    }
    workers = [
        process(
            prefect_command(
                "worker", "start", "--pool", "shoe-pool", "--name", f"worker-{n}", "--limit", str(PER_WORKER)
            ),
            log_path=tmp_path / f"worker-{n}.log",
            **env,
        )
        for n in (1, 2)
    ]
    runs = create_burst(api_url, url)
    finished = wait_for_final_states(api_url, runs, timeout=240, workers=workers)
    for worker in workers:
        worker.stop()  # their logs are complete

    assert {run.state_type.value for run in finished} == {"COMPLETED"}, [(r.name, r.state_name) for r in finished]
    assert all(run.run_count == 1 for run in finished)  # no run started twice
    ran = {n: runs_started_by(tmp_path / f"worker-{n}.log") for n in (1, 2)}
    assert ran[1] | ran[2] == {str(run.id) for run in finished}
    assert not ran[1] & ran[2]  # when both workers claim a run, the server lets only one start it
    assert ran[1] and ran[2]  # both workers took part
    assert len(receiver.texts()) == BURST  # one Slack message per run


def create_burst(api_url: str, url: str) -> list:
    """BURST runs of the daily deployment at once, each with its own budget (so its own run name)."""
    with SyncPrefectClient(api_url) as client:
        deployment = client.read_deployment_by_name("Shoe Price Notification/daily-price-check")
        return [
            client.create_flow_run_from_deployment(
                deployment.id, parameters={"urls": [url], "budget": 100 + n, "retry_delay_seconds": 0}
            )
            for n in range(BURST)
        ]


def wait_for_final_states(api_url: str, runs: list, timeout: float, workers) -> list:
    current = []
    with SyncPrefectClient(api_url) as client:

        def all_final() -> bool:
            current[:] = [client.read_flow_run(run.id) for run in runs]
            return all(run.state.is_final() for run in current)

        if wait_until(all_final, timeout):
            return current
    logs = "\n".join(worker.log_tail(30) for worker in workers)
    raise AssertionError(f"runs not finished after {timeout} s: {[r.state_name for r in current]}\n{logs}")


def runs_started_by(log_path) -> set[str]:
    """The flow runs a worker started: those it submitted, less those the server told it to abort.

    Two workers polling one pool may both claim a run; the server accepts the first claim (the run
    becomes Pending) and answers the second with an abort signal.
    """
    log = log_path.read_text()
    submitted = set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", log))
    aborted = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", log))
    return submitted - aborted
