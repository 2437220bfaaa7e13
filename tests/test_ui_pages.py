"""The Prefect UI pages the notebooks link to, opened in headless Chromium: each shows its object.

One Prefect server with its UI; tests/ui_objects.py makes on it, with the kit's real code, what the course
links to (a capstone run, a retried task run, a scheduled deployment on a process pool with a running
worker, the block `shoe-alerts`, the automation "Shoe price dropped", the `shoe-prices` artifact, a
`shoe.price.dropped` event, a paused run waiting for input). Each test opens the link that
`flow_code.kit.prefect_ui.ui_url` builds, waits until the object's name (or a text only it shows) is on
the page and saves SCREENSHOTS/<name>.png: `make screenshots` writes them to docs/screenshots/, where the
notebooks and the README show them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import prefect
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import WorkerStatus
from prefect.client.schemas.sorting import ArtifactSort
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

from flow_code.kit.prefect_ui import ui_url
from flow_code.kit.processes import REPO, BackgroundProcess, PrefectServer, free_port, prefect_command, wait_until
from flow_code.kit.slack_receiver import start as start_receiver

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / "test-artifacts" / "screenshots"))
VIEWPORT = {"width": 1280, "height": 800}
WAIT_MS = 60_000  # for a page's text to appear: the UI loads its data after the page

# Each screenshot's page, as the UI's router (prefect/server/ui/assets) spells it: a top-level path and its
# child route; the child's `:parameter` is replaced by the object's id or name.
ROUTES = {
    "ui-flow-run": ("runs", "flow-run/:flowRunId"),
    "ui-task-retries": ("runs", "task-run/:taskRunId"),
    "ui-deployment": ("deployments", "deployment/:deploymentId"),
    "ui-deployment-custom-run": ("deployments", "deployment/:deploymentId/run"),
    "ui-work-pool": ("work-pools", "work-pool/:workPoolName"),
    "ui-block": ("blocks", "block/:blockDocumentId"),
    "ui-automation": ("automations", "automation/:automationId"),
    "ui-artifact": ("artifacts", "key/:artifactKey"),
    "ui-events": ("events", ""),
    "ui-paused-run": ("runs", "flow-run/:flowRunId"),
}


def page_path(name: str, value: str = "") -> str:
    """`runs/flow-run/<value>` for "ui-flow-run": the route of ROUTES[name] with its parameter set."""
    top, child = ROUTES[name]
    return "/".join(part for part in (top, re.sub(r":\w+", value, child)) if part)


def test_each_page_is_a_route_of_the_ui_bundle():
    """The routes above are in the UI that Prefect 3.9.1 serves (a child route follows its parent's)."""
    assets = Path(prefect.__file__).parent / "server" / "ui" / "assets"
    bundle = "".join(path.read_text(errors="replace") for path in sorted(assets.glob("index-*.js")))
    for top, child in ROUTES.values():
        parent = bundle.find(f"path:`{top}`")
        assert parent >= 0, top
        assert bundle.find(f"path:`{child}`", parent) - parent in range(1, 3000), (top, child)


# --- the server, the objects, the browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    """`prefect server start` with its UI (PrefectServer tells the UI where its API is)."""
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    port = free_port()
    with PrefectServer(port=port, timeout=180) as running:
        yield running


def on(server):
    """Prefect's API and UI settings of this test's server, for API reads and `ui_url` in this process."""
    return temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_UI_URL: server.url})


@pytest.fixture(scope="module")
def course(server, tmp_path_factory):
    """What the notebooks link to, made by tests/ui_objects.py in a process pointed at the UI's server."""
    folder = tmp_path_factory.mktemp("ui-pages")
    env = {
        "PREFECT_API_URL": server.api_url,
        "PREFECT_UI_URL": server.url,
        "PREFECT_HOME": str(folder / "client-home"),  # results and caches away from the session's
        "PREFECT_LOGGING_COLORS": "false",
        "SLACK_WEBHOOK_URL": None,  # the capstone posts through the block `shoe-alerts`
    }
    receiver = start_receiver()
    maker = BackgroundProcess(
        [sys.executable, str(REPO / "tests" / "ui_objects.py"), receiver.webhook_url, str(folder / "prices.sqlite")],
        env=env,
        log_path=folder / "ui_objects.log",
    )
    worker = None
    try:
        maker.wait_until_ready(lambda: bool(printed(maker)), "tests/ui_objects.py", timeout=300)
        objects = printed(maker)[0]
        worker = BackgroundProcess(
            prefect_command("worker", "start", "--pool", objects["pool"]), env=env, log_path=folder / "worker.log"
        )
        yield {**objects, "receiver": receiver, "maker": maker, "worker": worker, "server": server}
    finally:
        for process in (worker, maker):
            if process is not None:
                process.stop()
        receiver.stop()


def printed(process: BackgroundProcess) -> list[dict]:
    """The JSON lines tests/ui_objects.py printed so far (its objects' ids, then the paused run's answer)."""
    lines = process.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="module")
def page(server):
    """One headless Chromium page for every test of this file."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        yield browser.new_page(viewport=VIEWPORT)
        browser.close()


def visit(page, course, path: str, *texts: str) -> None:
    """Open the UI's `path` through `ui_url` and wait until each of `texts` is on the page."""
    from playwright.sync_api import expect

    with on(course["server"]):
        page.goto(ui_url(path))
    for text in texts:
        expect(page.get_by_text(text, exact=True).first).to_be_visible(timeout=WAIT_MS)


def save(page, name: str, seconds: float = 6) -> Path:
    """SCREENSHOTS/<name>.png once the page holds still: two pictures in a row alike (the run graph and
    charts animate as they draw); after `seconds`, the last picture (a clock on the page may tick)."""
    deadline, picture = time.monotonic() + seconds, page.screenshot()
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)
        last, picture = picture, page.screenshot()
        if picture == last:
            break
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(picture)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def form_field(page, label: str, scope=None):
    """The input under the UI's form label `label` in `scope` (its <label> does not point at the input)."""
    labelled = page.locator(".p-label__label").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    return (scope or page).locator(".p-label").filter(has=labelled).locator("input").first


# --- the pages ------------------------------------------------------------------------------------------


def test_the_capstone_run_shows_its_task_graph_and_logs(page, course):
    assert course["flow_run_state"] == "Completed"
    with page.expect_response(lambda response: "/graph-v2" in response.url, timeout=WAIT_MS):  # the graph's data
        visit(page, course, page_path("ui-flow-run", course["flow_run"]), course["flow_run_name"], "12 Task runs")
    page.get_by_text("Beginning flow run", exact=False).first.wait_for(timeout=WAIT_MS)
    save(page, "ui-flow-run")


def test_the_task_run_page_shows_the_retries_in_its_log(page, course):
    assert course["task_run_count"] == 3  # two 503s, then the page
    visit(page, course, page_path("ui-task-retries", course["task_run"]), course["task_run_name"])
    for retry in ("Retry 1/3", "Retry 2/3"):
        page.get_by_text(retry, exact=False).first.wait_for(timeout=WAIT_MS)
    save(page, "ui-task-retries")


def test_the_artifact_shows_the_prices_table(page, course):
    with on(course["server"]), get_client(sync_client=True) as client:
        [latest] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["shoe-prices"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert str(latest.flow_run_id) == course["flow_run"]
    visit(page, course, page_path("ui-artifact", "shoe-prices"), "shoe-prices")
    page.get_by_role("link", name=str(latest.id)[:8]).click()  # the newest version: its table
    page.set_viewport_size({"width": 1920, "height": 800})  # the table's six columns, the URL one is wide
    try:
        page.get_by_text("Nike Revolution 7", exact=True).wait_for(timeout=WAIT_MS)
        page.get_by_text("60.00", exact=True).wait_for(timeout=WAIT_MS)
        save(page, "ui-artifact")
    finally:
        page.set_viewport_size(VIEWPORT)


def test_the_event_feed_shows_the_price_drop(page, course):
    visit(page, course, "events?events=shoe.price.dropped", "Shoe price dropped")
    page.get_by_text("shoe.product.revolution-7-mens-road-running-shoes", exact=True).wait_for(timeout=WAIT_MS)
    save(page, "ui-events")


def test_the_automation_page_shows_its_action_and_the_automation_fired(page, course):
    visit(page, course, page_path("ui-automation", course["automation"]), "Shoe price dropped", "shoe-alerts")
    save(page, "ui-automation")
    receiver = course["receiver"]
    alert = "Nike Revolution 7: now 60.00 USD, was 70.00."
    assert wait_until(lambda: any(alert in text for text in receiver.texts()), timeout=60), receiver.texts()


def test_the_block_page_masks_the_webhook_url(page, course):
    visit(page, course, page_path("ui-block", course["block"]), course["block_name"], "Webhook URL", "********")
    assert course["receiver"].webhook_url not in page.content()
    save(page, "ui-block")


def test_the_deployment_page_shows_its_schedule_and_next_run(page, course):
    visit(page, course, page_path("ui-deployment", course["deployment"]), course["deployment_name"], "Daily")
    page.get_by_text("Scheduled for", exact=False).first.wait_for(timeout=WAIT_MS)
    save(page, "ui-deployment")


def test_the_work_pool_page_shows_its_worker_online(page, course):
    pool, worker = course["pool"], course["worker"]
    with on(course["server"]), get_client(sync_client=True) as client:  # online from its first heartbeat

        def online() -> bool:
            return any(w.status == WorkerStatus.ONLINE for w in client.read_workers_for_work_pool(pool))

        assert wait_until(online, timeout=90, still_starting=lambda: worker.running), worker.log_tail()
    visit(page, course, page_path("ui-work-pool", pool) + "?tab=Workers", pool, "1 Worker", "online")
    save(page, "ui-work-pool")


def test_a_custom_run_from_the_ui_gets_the_changed_budget(page, course):
    """The seed's "quick run": Run > Custom run, `budget` changed, Submit; the API has that run."""
    course["worker"].stop()  # the run is to be found, not run: the shop its URLs point at is gone
    visit(page, course, page_path("ui-deployment-custom-run", course["deployment"]), "budget", "Submit")
    run_name = form_field(page, "Run Name").input_value()
    budget = form_field(page, "budget")
    budget.fill("95")
    budget.scroll_into_view_if_needed()
    save(page, "ui-deployment-custom-run")
    page.get_by_role("button", name="Submit").click()
    this_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[course["deployment"]]))
    with on(course["server"]), get_client(sync_client=True) as client:

        def asked() -> list:
            runs = client.read_flow_runs(deployment_filter=this_deployment)
            return [(run.name, run.parameters["budget"]) for run in runs if not run.auto_scheduled]

        wait_until(asked, timeout=30)
        assert asked() == [(run_name, 95)]


def test_the_paused_run_resumes_with_the_form_filled_in_the_ui(page, course):
    with on(course["server"]), get_client(sync_client=True) as client:

        def paused_run():
            runs = client.read_flow_runs()
            return next((run for run in runs if run.state and run.state.is_paused()), None)

        assert wait_until(lambda: paused_run() is not None, timeout=60), course["maker"].log_tail()
        run = paused_run()
    visit(page, course, page_path("ui-paused-run", str(run.id)), run.name, "Paused")
    page.get_by_role("button", name="Resume").click()
    form = page.get_by_role("dialog")  # the Approval form, under the question the run asks
    form.get_by_text("over the budget of 50. Buy it anyway?", exact=False).wait_for(timeout=WAIT_MS)
    form.get_by_role("switch").click()  # approve
    form_field(page, "Max Price (Optional)", scope=form).fill("75")  # "Optional": it has a default, 50
    save(page, "ui-paused-run")
    form.get_by_role("button", name="Submit").click()
    paused = course["maker"]  # the run returns the answer, tests/ui_objects.py prints it and ends
    assert wait_until(lambda: not paused.running, timeout=60), paused.log_tail()
    assert paused.process.returncode == 0, paused.log_tail()
    assert printed(paused)[-1] == {"approve": True, "max_price": 75, "price": "70.00"}
