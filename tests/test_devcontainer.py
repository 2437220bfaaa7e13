"""The Codespaces / Dev Containers set-up, run as its commands run (no container): in a clean clone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
import requests
from leftovers import Watch, marked_processes

from flow_code.kit.processes import REPO, api_is_healthy, free_port, wait_until

CONFIG = json.loads((REPO / ".devcontainer" / "devcontainer.json").read_text())


def test_the_container_is_python_311_and_forwards_the_course_and_the_ui():
    assert "python:1-3.11" in CONFIG["image"]
    assert CONFIG["forwardPorts"] == [8888, 4200]
    assert set(CONFIG["portsAttributes"]) == {"8888", "4200"}
    assert all(attributes["label"] for attributes in CONFIG["portsAttributes"].values())
    assert CONFIG["customizations"]["codespaces"]["openFiles"] == ["notebooks/index.ipynb"]


def test_its_commands_set_up_and_start_the_course_in_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    (clone / ".venv").symlink_to(REPO / ".venv")  # installed by `make test`: postCreateCommand finds it ready
    if subprocess.run(["make", "-q", "setup"], cwd=clone).returncode != 0:
        pytest.fail("the kit's .venv is not installed for this commit's pins: run `make setup` first")
    prefect_port, lab_port = free_port(), free_port()
    watch = Watch(uuid4().hex, tmp_path / "tmp")
    watch.tmpdir.mkdir()
    cleared = ("PREFECT_", "JUPYTER", "IPYTHONDIR", "KIT_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(cleared)}
    env.update(watch.env, HOME=str(tmp_path), CODESPACES="true", PREFECT_UI_PORT=str(prefect_port))
    env["LAB_PORT"] = str(lab_port)

    subprocess.run(["bash", "-c", CONFIG["postCreateCommand"]], cwd=clone, env=env, check=True, timeout=600)
    subprocess.run(["bash", "-c", CONFIG["postStartCommand"]], cwd=clone, env=env, check=True, timeout=60)
    try:
        lab = f"http://127.0.0.1:{lab_port}"
        assert wait_until(lambda: api_is_healthy(f"http://127.0.0.1:{prefect_port}/api"), 120), log(clone)
        assert wait_until(lambda: answers(f"{lab}/api/status"), 90), log(clone)
        ui_settings = requests.get(f"{lab}/prefect/ui-settings", timeout=10).json()
        assert ui_settings["api_url"] == f"/proxy/{prefect_port}/api"  # what a browser on the forwarded port reaches
        assert (clone / ".prefect" / "server.log").exists()  # the kit's own home, not ~/.prefect
        assert not (tmp_path / ".prefect").exists()
    finally:
        jupyter = [line for line in marked_processes(watch.mark) if "jupyter-lab" in line or "jupyter lab" in line]
        for line in jupyter:
            os.kill(int(line.split(":")[0]), signal.SIGTERM)
        watch.assert_nothing_left(grace=30)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def log(clone: Path) -> str:
    return (clone / ".lab.log").read_text()[-3000:] if (clone / ".lab.log").exists() else "(no .lab.log)"
