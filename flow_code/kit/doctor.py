"""`make doctor`: check the learner's set-up as it is now; one line per problem with its fix; exit 1 on any.

    python -m flow_code.kit.doctor [--requirements FILE] [--lab-port 8888]

Checks: the Python version and the pins; where flows report to (none: a temporary server; a server on
this machine that answers, with the client's version; never Prefect Cloud or someone else's server);
JupyterLab's and the Prefect UI's ports; runs waiting on a work pool that no worker polls; the API
address the UI calls, from where the browser is. A server that is still starting (right after
`make lab`, Binder or a Codespace launch) is waited for, up to a minute, before it is called a problem.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit

from flow_code.kit.processes import REPO, api_is_healthy, wait_until

STARTING_WAIT_SECONDS = 60.0
MIN_PYTHON = (3, 11)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def check_python_and_pins(requirements: Path) -> list[str]:
    """Python 3.11+, and every `name==version` of `requirements` installed at that version."""
    problems = []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(f"Python {sys.version.split()[0]}: the kit needs 3.11 or newer (make PYTHON=python3.11 setup)")
    wrong = []
    for line in requirements.read_text().splitlines():
        name, _, pinned = line.split("#")[0].split(";")[0].strip().partition("==")
        if not pinned:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed != pinned.strip():
            wrong.append(f"{name} {installed} (pinned {pinned.strip()})")
    if wrong:
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        problems.append(f"packages off their pins: {shown}: run `make setup` (or `make clean setup`)")
    return problems


def server_still_starting(api_url: str) -> bool:
    """Is a `prefect server start` for this URL's port running (launched, not answering yet)?"""
    port = str(urlsplit(api_url).port)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in args and b"start" in args and port.encode() in args and any(b"prefect" in a for a in args):
            return True
    return False


def wait_for_starting_server(api_url: str, say=print) -> bool:
    """True when the API answers; a server still starting is waited for (saying so), up to a minute."""
    if api_is_healthy(api_url):
        return True
    if not server_still_starting(api_url):
        return False
    say("waiting for the Prefect server to start…")
    return wait_until(lambda: api_is_healthy(api_url), STARTING_WAIT_SECONDS, lambda: server_still_starting(api_url))


def server_log_tail(lines: int = 5) -> str:
    log = Path(os.environ.get("PREFECT_HOME", REPO / ".prefect")) / "server.log"
    if not log.exists():
        return ""
    return "; its log ends: " + " | ".join(log.read_text(errors="replace").splitlines()[-lines:])


def check_api(api_url: str | None) -> list[str]:
    """Where flows report to: none (fine), this machine's server (answering, same version), else a problem."""
    if not api_url:
        return []
    host = urlsplit(api_url).hostname or ""
    if "prefect.cloud" in host:
        return [
            f"PREFECT_API_URL is Prefect Cloud ({api_url}): workshop flows must not run in a production "
            "workspace; `unset PREFECT_API_URL` (the kit keeps its own Prefect home in .prefect/)"
        ]
    if host not in LOOPBACK:
        return [
            f"PREFECT_API_URL points at {host}, not this machine: the workshop runs on your own server; "
            "`unset PREFECT_API_URL`, or `make lab`, which starts one"
        ]
    if not wait_for_starting_server(api_url):
        return [f"nothing answers at PREFECT_API_URL={api_url}: `make lab` starts a server{server_log_tail()}"]
    import prefect

    with urllib.request.urlopen(f"{api_url}/admin/version", timeout=5) as response:
        server_version = json.load(response)
    if server_version != prefect.__version__:
        return [
            f"the server at {api_url} runs Prefect {server_version}, this client {prefect.__version__}: requests "
            "fail with 422 errors; restart the server from this environment (`make lab`)"
        ]
    return []


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def answers_json(url: str) -> dict | list | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def check_ports(lab_port: int, ui_port: int) -> list[str]:
    """JupyterLab's and the Prefect UI's ports: free, or taken by JupyterLab / a Prefect server."""
    problems = []
    if listening(ui_port) and not api_is_healthy(f"http://127.0.0.1:{ui_port}/api"):
        problems.append(
            f"port {ui_port} (the Prefect UI's) is taken by another program: stop it, or use another port: "
            f"`PREFECT_UI_PORT={ui_port + 1} make lab`"
        )
    if listening(lab_port) and not isinstance(answers_json(f"http://127.0.0.1:{lab_port}/api"), dict):
        problems.append(
            f"port {lab_port} (JupyterLab's) is taken by another program: stop it, "
            f"or `make lab LAB_PORT={lab_port + 1}`"
        )
    return problems


def check_waiting_runs() -> list[str]:
    """Runs due on a work pool that no worker polls: they stay Late until a worker starts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterNextScheduledStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType, WorkPoolStatus

    due = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(
            before_=datetime.now(UTC) - timedelta(seconds=5)
        ),
    )
    problems = []
    with get_client(sync_client=True) as client:
        for pool in client.read_work_pools():
            if pool.status == WorkPoolStatus.READY or pool.is_paused:
                continue
            waiting = client.read_flow_runs(
                flow_run_filter=due, work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool.name]))
            )
            if waiting:
                problems.append(
                    f"{len(waiting)} run(s) are due on work pool '{pool.name}' and no worker polls it: "
                    f"`prefect worker start --pool {pool.name}` (or pause its deployments' schedules)"
                )
    return problems


def running_jupyter_servers() -> list[dict]:
    """The Jupyter servers of this user (url, token), as `jupyter server list` sees them."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jupyter", "server", "list", "--json"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def check_ui_api(api_url: str | None) -> list[str]:
    """The API address the UI calls, requested from where the browser is (this machine, or through JupyterLab)."""
    if not api_url or urlsplit(api_url).hostname not in LOOPBACK or not api_is_healthy(api_url):
        return []
    server = api_url.removesuffix("/").removesuffix("/api")
    settings = answers_json(f"{api_url}/admin/settings") or {}
    base = (settings.get("ui") or {}).get("serve_base") or ""
    ui = answers_json(f"{server}{base.rstrip('/')}/ui-settings")
    if not isinstance(ui, dict) or not ui.get("api_url"):
        return []
    ui_api = ui["api_url"]
    if ui_api.startswith("http"):
        if api_is_healthy(ui_api):
            return []
        return [f"the Prefect UI calls {ui_api}, which does not answer: set PREFECT_UI_API_URL for the server"]
    for jupyter in running_jupyter_servers():  # a path: the browser reaches it through JupyterLab
        origin = jupyter["url"].split("://", 1)[1].split("/", 1)[0]
        url = f"http://{origin}{ui_api}/health"
        request = urllib.request.Request(url, headers={"Authorization": f"token {jupyter.get('token', '')}"})
        try:
            with urllib.request.urlopen(request, timeout=5):
                return []
        except OSError:
            continue
    return [
        f"the Prefect UI calls {ui_api} (a path under JupyterLab) and no JupyterLab here serves it: open the UI "
        "through JupyterLab (`make lab`, then <JupyterLab's address>/prefect/)"
    ]


def run_checks(requirements: Path, lab_port: int, ui_port: int, say=print) -> list[str]:
    """Every check, in the order a learner would fix them."""
    problems = check_python_and_pins(requirements)
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    api_problems = check_api(api_url)
    problems += api_problems + check_ports(lab_port, ui_port)
    if api_url and not api_problems:
        problems += check_waiting_runs() + check_ui_api(api_url)
    if not api_url:
        say("Prefect API: none set, so each run starts a temporary server (fine for the main job)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flow_code.kit.doctor", description=__doc__.split("\n")[0])
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt", help="the pins to check")
    parser.add_argument("--lab-port", type=int, default=int(os.environ.get("LAB_PORT", 8888)), help="JupyterLab's")
    parser.add_argument(
        "--ui-port", type=int, default=int(os.environ.get("PREFECT_UI_PORT", 4200)), help="the Prefect UI's"
    )
    args = parser.parse_args(argv)
    problems = run_checks(args.requirements, args.lab_port, args.ui_port)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if not problems:
        print("All good: Python, the pins, the Prefect API, the ports and the work pools.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
