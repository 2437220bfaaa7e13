"""The course website: static HTML from the committed, tested notebooks (`make site`), nothing executed.

    python -m flow_code.kit.build_site [OUTPUT]     # default: docs/_build/html (open its index.html)

Sphinx + MyST-NB + the book theme: pure Python, so it installs with the kit's pins and builds offline.
The sources are staged in docs/_build/src in the repo's own layout (docs/, notebooks/, README.md, with
docs/index.md and conf.py at the top), so a link that works on GitHub or in JupyterLab works in the site.
The course table and the Prefect 2 to 3 map are included from the README. Warnings are errors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from flow_code.kit.processes import REPO

DOCS = REPO / "docs"


def stage(source: Path) -> Path:
    """Copy what the site is built from into `source` (emptied first)."""
    shutil.rmtree(source, ignore_errors=True)
    (source / "notebooks").mkdir(parents=True)
    shutil.copytree(DOCS, source / "docs", ignore=shutil.ignore_patterns("_build", "conf.py", "index.md"))
    for page in [DOCS / "index.md", DOCS / "conf.py", REPO / "README.md"]:  # the repo's layout: links work in both
        shutil.copy2(page, source / page.name)
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy2(notebook, source / "notebooks" / notebook.name)
    return source


def build(output: Path = DOCS / "_build" / "html") -> Path:
    """Build the site into `output`; raises on any Sphinx warning. Returns `output`."""
    source = stage(output.parent / "src")
    shutil.rmtree(output, ignore_errors=True)  # no page of an earlier build survives
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source), str(output)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the site did not build:\n{done.stderr[-5000:]}")
    return output


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "_build" / "html") / "index.html")
