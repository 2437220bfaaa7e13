"""The course website (`make site`): built from the committed notebooks, warnings as errors, no broken links."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from flow_code.kit.build_site import build
from flow_code.kit.execute_notebooks import NOTEBOOKS, course_notebooks
from flow_code.kit.processes import REPO

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("site") / "html")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def first_output_line(path: Path) -> str:
    """A line of the first printed output of a notebook (what its page must show)."""
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            line = next((line.strip() for line in text.splitlines() if len(line.strip()) > 12), None)
            if output.get("output_type") == "stream" and line:
                return line
    raise AssertionError(f"{path.name} prints nothing")


@pytest.mark.parametrize("path", [NOTEBOOKS / "index.ipynb", *course_notebooks()], ids=lambda path: path.stem)
def test_every_notebook_has_a_page_with_its_committed_outputs(site, path):
    page = site / "notebooks" / f"{path.stem}.html"
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", page.read_text())))
    assert " ".join(first_output_line(path).split()) in text


def unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_the_home_page_has_the_course_table_the_map_and_search(site):
    home = (site / "index.html").read_text()
    for notebook in course_notebooks():
        assert f'href="notebooks/{notebook.stem}.html"' in home
    assert (site / "docs" / "prefect-2-to-3.html").read_text().count("<tr") >= 10  # the README's map, a row a term
    assert (site / "docs" / "troubleshooting.html").exists() and (site / "docs" / "instructors.html").exists()
    assert (site / "search.html").exists() and (site / "searchindex.js").stat().st_size > 10_000
    assert "mybinder.org" in (site / "notebooks" / "02-retries.html").read_text()  # launch buttons
    assert "codespaces.new" in (site / "notebooks" / "02-retries.html").read_text()


def test_no_internal_link_is_broken(site):
    broken = []
    for page in (page for page in site.rglob("*.html") if "_static" not in page.parts):  # not theme templates
        parser = Links()
        parser.feed(page.read_text())
        for target in parser.targets:
            parts = urlsplit(target)
            if parts.scheme or target.startswith(("#", "//", "mailto:", "data:")):
                continue
            if not (page.parent / unquote(parts.path)).resolve().exists():
                broken.append(f"{page.relative_to(site)} -> {target}")
    assert broken == []


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_browser_opens_the_home_page_and_a_notebook_page(site):
    from playwright.sync_api import expect, sync_playwright

    screenshots = REPO / "test-artifacts" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto((site / "index.html").as_uri())
        expect(page.get_by_role("heading", name=re.compile("Workflow orchestration with Prefect 3"))).to_be_visible()
        page.get_by_role("link", name=re.compile("02 · Retries")).first.click()
        expect(page.get_by_role("heading", name=re.compile("02 · Retries"))).to_be_visible()
        page.screenshot(path=screenshots / "site-notebook-page.png")
        browser.close()


def time_to_learn(path: Path) -> int:
    markdown = "\n".join(
        cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"
    )
    return int(re.search(r"## Time to learn\s+(\d+) minutes", markdown).group(1))


def test_the_instructors_plan_matches_the_notebooks_and_fits_three_hours():
    plan = (REPO / "docs" / "instructors.md").read_text()
    rows = re.findall(r"^\| (\d):(\d\d) \| ([^|]+) \| (\d+) \|$", plan, flags=re.MULTILINE)
    clock = 0
    for hours, minutes, what, length in rows:
        assert int(hours) * 60 + int(minutes) == clock, f"{what.strip()} starts at {hours}:{minutes}"
        clock += int(length)
        if "Break" not in what:
            [notebook] = [path for path in course_notebooks() if path.stem.startswith(what.strip()[:2])]
            assert int(length) == time_to_learn(notebook), what
    assert clock <= 180, f"the plan takes {clock} minutes"


def test_the_index_states_a_core_path_that_fits_three_hours():
    index = nbformat.read(NOTEBOOKS / "index.ipynb", as_version=4).cells[0].source
    stated = int(re.search(r"Core path: (\d+) minutes", index).group(1))
    rows = re.findall(r"^\| \[(\d\d) · [^]]+\]\(([^)]+)\)( \*\(optional\)\*)? \| (\d+) \|", index, flags=re.MULTILINE)
    assert len(rows) == len(course_notebooks())
    for number, target, _, minutes in rows:
        assert int(minutes) == time_to_learn(NOTEBOOKS / target), number
    assert stated == sum(int(minutes) for _, _, optional, minutes in rows if not optional) <= 180
