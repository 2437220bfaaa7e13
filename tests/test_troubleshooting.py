"""docs/troubleshooting.md: the symptoms it quotes are the ones Prefect prints, reproduced here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flow_code.kit import demo_shop
from flow_code.kit.processes import REPO, prefect_command

PAGE = (REPO / "docs" / "troubleshooting.md").read_text()


def test_port_in_use_is_reported_as_the_page_quotes(tmp_path):
    with demo_shop.start() as taken:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_HOME"] = str(tmp_path)
        command = prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(taken.port))
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    said = " ".join((done.stdout + done.stderr).split())
    assert f"Port {taken.port} is already in use. Please specify a different port with the `--port` flag." in said
    assert "Port 4200 is already in use. Please specify a different port with the `--port` flag." in PAGE


def test_a_missing_working_directory_fails_the_pull_step_as_the_page_quotes(tmp_path):
    """What a worker's flow-run process runs first: prefect.yaml's pull step."""
    missing = tmp_path / "old-clone"
    code = f"from prefect.deployments.steps import set_working_directory\nset_working_directory({str(missing)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'" in done.stderr
    assert "FileNotFoundError: [Errno 2] No such file or directory: '/home/you/old-clone'" in PAGE


@pytest.mark.parametrize("issue", ["16950", "16147", "22391", "18895", "10389", "18934", "19771", "16183"])
def test_every_known_problem_has_its_section(issue):
    assert f"#{issue}" in PAGE
