"""`make doctor` (python -m flow_code.kit.doctor): each fault created for real, and a healthy set-up."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from leftovers import Watch
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from flow_code.kit import demo_shop
from flow_code.kit.processes import REPO, BackgroundProcess, free_port

DOCTOR = [sys.executable, "-m", "flow_code.kit.doctor"]
SETUP_CHECK = [sys.executable, "-m", "flow_code.kit.notebook_helpers"]
# A notebook's first cell in a kernel (ipykernel imported): the props import, then a flow run.
NOTEBOOK_FIRST_CELL = [
    sys.executable,
    "-c",
    "import ipykernel\nfrom flow_code.kit import demo_shop\nfrom prefect import flow\n"
    "print(flow(lambda: 1, name='first-cell')(return_state=True).name)",
]


def doctor(*args: str, **env: str | None) -> subprocess.CompletedProcess:
    """The doctor with free ports for JupyterLab and the UI (unless given) and `env` over this environment."""
    environment = {**os.environ, **env}
    environment = {name: value for name, value in environment.items() if value is not None}
    ports = ["--lab-port", str(free_port()), "--ui-port", str(free_port())]
    return subprocess.run([*DOCTOR, *ports, *args], env=environment, capture_output=True, text=True, timeout=180)


def problems(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("PROBLEM: ")]


def test_a_healthy_set_up_exits_0(tmp_path):
    done = doctor(PREFECT_API_URL=None, PREFECT_HOME=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert problems(done) == [] and "All good" in done.stdout


def test_a_package_off_its_pin(tmp_path):
    pins = tmp_path / "requirements.txt"
    pins.write_text("prefect==3.0.0\nprefect-slack==0.4.0\n")
    done = doctor("--requirements", str(pins), PREFECT_API_URL=None, PREFECT_HOME=str(tmp_path))
    assert done.returncode == 1
    assert problems(done) == [
        "PROBLEM: packages off their pins: prefect 3.9.1 (pinned 3.0.0): run `make setup` (or `make clean setup`)"
    ]


@pytest.mark.parametrize(
    ("api_url", "says"),
    [
        (f"http://127.0.0.1:{free_port()}/api", "nothing answers at PREFECT_API_URL"),
        ("https://api.prefect.cloud/api/accounts/a/workspaces/b", "workshop flows must not run in a production"),
        ("http://prefect.example.com:4200/api", "points at prefect.example.com, not this machine"),
    ],
    ids=["nothing-answers", "prefect-cloud", "someone-elses-server"],
)
def test_an_api_url_the_workshop_must_not_use(api_url, says):
    done = doctor(PREFECT_API_URL=api_url)
    assert done.returncode == 1
    assert len(problems(done)) == 1 and says in problems(done)[0], done.stdout


def test_ports_taken_by_another_program(tmp_path):
    with demo_shop.start() as shop:  # an HTTP server that is neither JupyterLab nor Prefect
        taken = str(shop.port)
        for option, says in (("--ui-port", "(the Prefect UI's) is taken"), ("--lab-port", "(JupyterLab's) is taken")):
            done = doctor(option, taken, PREFECT_API_URL=None, PREFECT_HOME=str(tmp_path))
            assert done.returncode == 1
            assert [says in line for line in problems(done)] == [True], done.stdout


def test_runs_due_on_a_work_pool_that_no_worker_polls(prefect_api):
    pool = f"doctor-pool-{uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.actions import WorkPoolCreate

        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow_from_name("doctor-check")
        deployment_id = client.create_deployment(flow_id, name=pool, work_pool_name=pool)
        client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=1))
        )
        try:
            done = doctor()
        finally:
            client.delete_deployment(deployment_id)
            client.delete_work_pool(pool)
    assert done.returncode == 1
    assert f"1 run(s) are due on work pool '{pool}' and no worker polls it" in done.stdout, done.stdout


def test_a_server_still_starting_is_waited_for_not_reported(tmp_path):
    """Right after a launch (binder/start, as `make lab`, Binder and Codespaces run it) both checks wait."""
    port = free_port()
    watch = Watch(uuid4().hex, tmp_path / "tmp")
    watch.tmpdir.mkdir()
    cleared = {name: None for name in os.environ if name.startswith(("PREFECT_", "KIT_"))}
    env = {**cleared, **watch.env, "PREFECT_UI_PORT": str(port), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"
    launch = BackgroundProcess([str(REPO / "binder" / "start"), "sleep", "300"], env=env)  # sleep stands in for Lab
    try:
        api = {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(tmp_path / "prefect-home")}
        environment = {k: v for k, v in {**os.environ, **cleared, **api}.items() if v is not None}
        ports = ["--lab-port", str(free_port()), "--ui-port", str(free_port())]
        started = [  # both at once, right after the launch
            subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for command in ([*DOCTOR, *ports], SETUP_CHECK, NOTEBOOK_FIRST_CELL)
        ]
        (doctor_out, doctor_err), (check_out, check_err), (cell_out, cell_err) = (
            process.communicate(timeout=180) for process in started
        )
        assert "waiting for the Prefect server to start…" in cell_out
        assert started[2].returncode == 0 and "Completed" in cell_out, cell_err
        assert "waiting for the Prefect server to start…" in doctor_out
        assert started[0].returncode == 0, doctor_out + doctor_err
        assert "waiting for the Prefect server to start…" in check_out
        assert started[1].returncode == 0 and "(answering)" in check_out, check_err
    finally:
        launch.stop()
    watch.assert_nothing_left()
