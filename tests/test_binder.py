"""Binder, emulated: postBuild with a fresh HOME, then `binder/start jupyter lab` under a hub-like prefix.

Binder's image build needs Docker, which this machine does not run; what it would do with the repo is
checked here: the config files, then the launch (Prefect server + JupyterLab + the UI through
jupyter-server-proxy), a flow run from a kernel of that JupyterLab, and a real browser (headless
Chromium driven by Playwright) opening the course and finding that run in the Prefect UI.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
import requests
from leftovers import Watch
from remote_kernel import run_in_new_kernel

from flow_code.kit.processes import REPO, BackgroundProcess, api_is_healthy, free_port

BINDER = REPO / "binder"
PREFIX = "/user/test/"
RUN_NAME = "binder-hello"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / "test-artifacts" / "screenshots"))


def pins(path: Path) -> list[str]:
    return sorted(line for line in path.read_text().splitlines() if "==" in line and not line.startswith("#"))


def test_binder_pins_match_the_kit():
    assert pins(BINDER / "requirements.txt") == pins(REPO / "requirements.txt")
    assert any(line.startswith("jupyter-server-proxy==") for line in pins(BINDER / "requirements.txt"))


def test_binder_scripts_are_what_repo2docker_runs():
    assert re.fullmatch(r"python-3\.1[1-9]\n?", (BINDER / "runtime.txt").read_text())
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert os.access(path, os.X_OK), f"binder/{script} must be executable"
        assert path.read_text().startswith("#!/bin/bash\n")
        subprocess.run(["bash", "-n", str(path)], check=True)  # parses
    assert "\nset -e\n" in (BINDER / "postBuild").read_text()
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')
    compile((BINDER / "jupyter_server_config.py").read_text(), "jupyter_server_config.py", "exec")


def binder_environment(home: Path, prefect_port: int) -> dict[str, str | None]:
    """What a Binder container has: a fresh HOME, the hub's prefix, nothing of the test session's Prefect."""
    cleared = {name: None for name in os.environ if name.startswith(("PREFECT_", "JUPYTER", "IPYTHONDIR"))}
    return {
        **cleared,
        "HOME": str(home),
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "PREFECT_UI_PORT": str(prefect_port),
        "PREFECT_HOME": str(home / ".prefect"),  # on Binder HOME is the repo: its .prefect/ is the kit's home
    }


@pytest.fixture(scope="module")
def binder(tmp_path_factory):
    """postBuild, then `binder/start jupyter lab` under /user/test/; yields where things are."""
    home = tmp_path_factory.mktemp("binder-home")
    prefect_port, jupyter_port, token = free_port(), free_port(), secrets.token_hex(16)
    watch = Watch(uuid4().hex, home / "tmp")  # marks what the launch starts; its TMPDIR
    watch.tmpdir.mkdir()
    env = {**binder_environment(home, prefect_port), **watch.env}
    subprocess.run(
        [str(BINDER / "postBuild")],
        cwd=REPO,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        check=True,
    )
    lab = BackgroundProcess(
        [
            str(BINDER / "start"),
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={jupyter_port}",
            f"--ServerApp.base_url={PREFIX}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={REPO}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root; Binder does not
        ],
        env=env,
        cwd=REPO,
        log_path=home / "jupyter.log",
    )
    base = f"http://127.0.0.1:{jupyter_port}{PREFIX}"
    http = requests.Session()  # signed in, as the hub signs in a Binder user
    http.headers["Authorization"] = f"token {token}"
    try:
        wait_for(lambda: http.get(f"{base}api/status", timeout=2).ok, lab, 90)
        wait_for(lambda: http.get(f"{base}proxy/{prefect_port}/api/health", timeout=2).json() is True, lab, 120)
        yield {
            "home": home,
            "base": base,
            "token": token,
            "prefect_port": prefect_port,
            "http": http,
            "lab": lab,
            "watch": watch,
        }
    finally:
        lab.stop()


def wait_for(ready, process: BackgroundProcess, timeout: float) -> None:
    process.wait_until_ready(lambda: answers(ready), "binder/start + JupyterLab", timeout)


def answers(ready) -> bool:
    try:
        return ready()
    except (requests.RequestException, ValueError):  # not up yet, or not JSON yet
        return False


def test_post_build_installs_the_proxy_configuration(binder):
    config = binder["home"] / ".jupyter" / "jupyter_server_config.py"
    assert config.read_text() == (BINDER / "jupyter_server_config.py").read_text()


def test_the_prefect_ui_is_served_under_the_prefix(binder):
    base, port, http = binder["base"], binder["prefect_port"], binder["http"]
    index = http.get(f"{base}prefect/", timeout=10)
    assert index.status_code == 200 and "<html" in index.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', index.text)
    assert assets and all(asset.startswith(f"{PREFIX}prefect/") for asset in assets)
    origin = base.removesuffix(PREFIX)
    for asset in assets:
        response = http.get(origin + asset, timeout=10)
        kind = response.headers["Content-Type"]
        assert response.status_code == 200 and response.content and ("javascript" in kind or "css" in kind), asset
    settings = http.get(f"{base}prefect/ui-settings", timeout=10).json()
    assert settings["api_url"] == f"{PREFIX}proxy/{port}/api"
    assert http.get(f"{base}proxy/{port}/api/health", timeout=10).json() is True


def test_the_launcher_has_a_prefect_ui_tile(binder):
    servers = binder["http"].get(f"{binder['base']}server-proxy/servers-info", timeout=10)
    [prefect] = [server for server in servers.json()["server_processes"] if server["name"] == "prefect"]
    assert prefect["launcher_entry"]["title"] == "Prefect UI"
    assert prefect["launcher_entry"]["path_info"] == "prefect/"


HELLO_FLOW = f"""
import os
from prefect import flow

@flow(flow_run_name="{RUN_NAME}")
def hello():
    return 42

print(hello(), os.environ["PREFECT_API_URL"], os.environ["PREFECT_UI_URL"])
"""


def test_a_flow_run_from_a_lab_kernel_shows_up_through_the_proxy(binder):
    output = run_in_new_kernel(binder["base"], binder["token"], HELLO_FLOW)
    port = binder["prefect_port"]
    assert f"42 http://127.0.0.1:{port}/api {PREFIX}prefect" in output
    assert f"View at {PREFIX}prefect/runs/flow-run/" in output  # the log's link opens the proxied UI
    runs = (
        binder["http"]
        .post(
            f"{binder['base']}proxy/{port}/api/flow_runs/filter",
            json={"flow_runs": {"name": {"any_": [RUN_NAME]}}},
            timeout=10,
        )
        .json()
    )
    assert [(run["name"], run["state_type"]) for run in runs] == [(RUN_NAME, "COMPLETED")]


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_browser_opens_the_course_and_finds_the_run_in_the_prefect_ui(binder):
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if not run_names(binder):
        run_in_new_kernel(binder["base"], binder["token"], HELLO_FLOW)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{binder['base']}lab/tree/notebooks/index.ipynb?token={binder['token']}")
        title = page.get_by_role("heading", name=re.compile("Workflow orchestration with Prefect 3"))
        expect(title.first).to_be_visible(timeout=60_000)
        news = page.get_by_role("button", name="No", exact=True)  # JupyterLab asks about its news feed
        if news.count():
            news.first.click()
        page.wait_for_timeout(1000)  # let the notebook finish rendering
        page.screenshot(path=SCREENSHOTS / "course-in-jupyterlab.png")

        page.goto(f"{binder['base']}prefect/runs")
        run_link = page.get_by_text(RUN_NAME).first
        for _ in range(3):  # the runs list shows runs up to the minute it loaded: reload if needed
            try:
                expect(run_link).to_be_visible(timeout=20_000)
                break
            except AssertionError:
                page.reload()
        expect(run_link).to_be_visible(timeout=20_000)
        page.screenshot(path=SCREENSHOTS / "prefect-ui-runs.png")
        browser.close()
    assert (SCREENSHOTS / "prefect-ui-runs.png").stat().st_size > 10_000


def run_names(binder) -> list[str]:
    runs = binder["http"].post(
        f"{binder['base']}proxy/{binder['prefect_port']}/api/flow_runs/filter", json={}, timeout=10
    )
    return [run["name"] for run in runs.json()]


def test_sigterm_to_jupyterlab_alone_stops_everything_the_launch_started(binder):
    """JupyterLab stopped for any reason takes the Prefect server that binder/start launched with it.

    Last in this file: it ends the launch the tests above share.
    """
    supervisor = binder["lab"].process.pid
    [jupyter] = [int(pid) for pid in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()]
    assert b"jupyter" in Path(f"/proc/{jupyter}/cmdline").read_bytes()  # binder/start exec'd JupyterLab
    assert api_is_healthy(f"http://127.0.0.1:{binder['prefect_port']}/api")
    os.kill(jupyter, signal.SIGTERM)  # to JupyterLab alone, not to its process group
    binder["watch"].assert_nothing_left(grace=30)
    assert not api_is_healthy(f"http://127.0.0.1:{binder['prefect_port']}/api")
