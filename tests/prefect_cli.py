"""`prefect` CLI calls for tests, run from the repo root (where prefect.yaml is), as the README says."""

import os
import subprocess

from flow_code.kit.processes import REPO, prefect_command


def prefect_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`prefect --no-prompt <args>` with `env` added to this process's environment; asserts it succeeded."""
    done = subprocess.run(
        prefect_command("--no-prompt", *args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PWD": str(REPO), **env},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done
