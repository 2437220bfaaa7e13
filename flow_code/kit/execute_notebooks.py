"""The course's notebooks: list them, and re-execute them in place (`make notebooks`).

    python -m flow_code.kit.execute_notebooks                      # the index and every numbered notebook
    python -m flow_code.kit.execute_notebooks notebooks/02-*.ipynb  # some

Notebooks run against a fresh `prefect server start` with the same kernel set-up the tests use
(colours off, Prefect deprecations as errors, per-kernel result storage), so the committed outputs
are exactly what strict nbval compares.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flow_code.kit.processes import REPO, PrefectServer

NOTEBOOKS = REPO / "notebooks"
TEST_IPYTHONDIR = REPO / "tests" / "ipython"


def course_notebooks() -> list[Path]:
    """The numbered notebooks, in order (index.ipynb excluded)."""
    return sorted(path for path in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def kernel_environment(api_url: str) -> dict[str, str]:
    """Environment variables for kernels that run the notebooks under test."""
    return {
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_URL": api_url.removesuffix("/api"),  # the UI links, also inside `make lab` (which sets its own)
        "PREFECT_LOGGING_COLORS": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "IPYTHONDIR": str(TEST_IPYTHONDIR),
    }


def execute_in_place(path: Path, timeout: int = 600) -> None:
    """Run every cell of a notebook from the top and save its outputs (no timing metadata)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:  # also on failure, so the outputs show where it stopped
        for cell in notebook.cells:
            cell.metadata.pop("execution", None)
        nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flow_code.kit.execute_notebooks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: index and every numbered notebook")
    args = parser.parse_args(argv)

    paths = args.notebooks or [NOTEBOOKS / "index.ipynb", *course_notebooks()]
    with PrefectServer() as server:
        os.environ.update(kernel_environment(server.api_url), PREFECT_HOME=str(server.home))
        for path in paths:
            print(f"executing {path.relative_to(REPO) if path.is_absolute() else path} ...", flush=True)
            execute_in_place(path)


if __name__ == "__main__":
    main()
