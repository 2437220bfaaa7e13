"""Check that the kit's environment is right: `python -m flow_code.check_setup`."""

from __future__ import annotations

import sys
from importlib.metadata import version

from flow_code.prefect_server import api_is_healthy

PINNED = {"prefect": "3.9.1", "prefect-slack": "0.4.0"}


def check_environment() -> dict[str, str]:
    """Python and package versions, and where flows will report to; raises if a pin is off."""
    from prefect.settings import PREFECT_API_URL

    found = {"python": sys.version.split()[0]}
    for package, pinned in PINNED.items():
        found[package] = version(package)
        if found[package] != pinned:
            raise RuntimeError(f"{package} {found[package]} is installed, the course is written for {pinned}")
    api_url = PREFECT_API_URL.value()
    if not api_url:
        found["prefect api"] = "none set: each Python process starts a temporary server"
    elif api_is_healthy(api_url):
        found["prefect api"] = f"{api_url} (answering)"
    else:
        raise RuntimeError(f"PREFECT_API_URL is {api_url} but nothing answers there: start `prefect server start`")
    return found


if __name__ == "__main__":
    for name, value in check_environment().items():
        print(f"{name:>14}: {value}")
