"""The course notebooks: their template, papermill runs with other parameters, strict kernels.

Strict nbval over the committed outputs runs from the same `pytest` command (`--nbval` in
pyproject.toml collects notebooks/). Here papermill runs each notebook with non-default parameters
into tmp_path and checks what the notebook's `results` cell measured for those parameters.
"""

import ast
import json
import re
from decimal import Decimal
from pathlib import Path

import nbformat
import papermill
import pytest
from leftovers import watched

from flow_code.kit.execute_notebooks import NOTEBOOKS, course_notebooks

pytestmark = pytest.mark.usefixtures("prefect_api")
TEMPLATE = ["Goals", "Prerequisites", "Time to learn", "Exercise", "Solution", "Summary", "Next"]


def cells(path: Path):
    return nbformat.read(path, as_version=4).cells


def tagged(notebook, tag: str):
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def results_of(notebook) -> dict:
    """The value shown by the cell tagged `results`."""
    [cell] = tagged(notebook, "results")
    [output] = [out for out in cell.outputs if out.output_type == "execute_result"]
    return ast.literal_eval(output.data["text/plain"])


def seconds(text: str) -> float:
    return float(text.removesuffix(" s"))


def run_with(notebook: str, tmp_path: Path, **parameters) -> dict:
    """papermill with `parameters`; the notebook's `results`."""
    output = tmp_path / f"{len(list(tmp_path.glob('*.ipynb')))}-{notebook}"
    papermill.execute_notebook(
        str(NOTEBOOKS / notebook),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    return results_of(nbformat.read(output, as_version=4))


def run_twice(notebook: str, tmp_path: Path, monkeypatch, **parameters) -> tuple[dict, dict]:
    """papermill twice in a row on one server and one kernel folder (result storage, price history), as a
    learner who runs a notebook again in JupyterLab; both runs' `results` (either run raising fails the test)."""
    monkeypatch.setenv("KIT_KERNEL_DIR", str(tmp_path / "kernel"))
    (tmp_path / "kernel").mkdir()
    with watched(monkeypatch, tmp_path) as watch:  # and nothing either run started outlives it
        runs = run_with(notebook, tmp_path, **parameters), run_with(notebook, tmp_path, **parameters)
    watch.assert_nothing_left()
    return runs


@pytest.mark.parametrize("path", course_notebooks(), ids=lambda path: path.stem)
def test_notebook_follows_the_template(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    assert headings[0].startswith(path.stem[:2]), "the title comes first"
    for section in TEMPLATE:
        assert section in headings, f"{path.name} has no '{section}' section"
    assert tagged(notebook, "parameters") and tagged(notebook, "results")
    [solution] = tagged(notebook, "solution")
    assert solution.metadata["jupyter"]["source_hidden"]
    for target in re.findall(r"\]\(([^)]+\.ipynb)\)", markdown):
        assert (NOTEBOOKS / target).exists(), f"{path.name} links to missing {target}"
    if path != course_notebooks()[-1]:
        following = course_notebooks()[course_notebooks().index(path) + 1]
        assert f"({following.name})" in markdown.split("## Next")[-1], "the last section links to the next notebook"


@pytest.mark.parametrize("path", [NOTEBOOKS / "index.ipynb", *course_notebooks()], ids=lambda path: path.stem)
def test_committed_outputs_have_no_errors_and_no_secrets(path):
    text = path.read_text()
    notebook = nbformat.reads(text, as_version=4)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert not [out for out in outputs if out.get("name") == "stderr"], "stderr in a committed output"
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code"), "run top to bottom"
    assert not re.search(r"hooks\.slack\.com/services/T\w+|xox[abposr]-\w{10,}", text)


def test_index_lists_every_notebook():
    index = json.dumps(nbformat.read(NOTEBOOKS / "index.ipynb", as_version=4).cells[0].source)
    for path in course_notebooks():
        assert f"({path.name})" in index


class Test00Welcome:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        assert run_with("00-welcome.ipynb", tmp_path, product_count=3) == {"products_listed": 3, "in_stock": 6}


class Test01FlowsAndTasks:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("01-flows-and-tasks.ipynb", tmp_path, name="papermill")
        assert results == {"greeting": "HELLO, PAPERMILL!", "state": "Completed", "task_runs": 2}


class Test02Retries:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("02-retries.ipynb", tmp_path, fail_first=1, retries=2)
        assert results == {"fail_first": 1, "retries": 2, "attempts": 2, "final_state": "Completed"}


class Test03Caching:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("03-caching.ipynb", tmp_path, budget=150, page_delay=0.6)
        assert (results["budget"], results["first"], results["second"]) == (150, "Completed", "Cached")
        assert results["expiry"] == ["Completed", "Cached", "Completed"]
        assert results["page_requests"] == 3  # first read, (cached second read), the refresh
        assert seconds(results["first_run_time"]) >= 0.6  # the page delay was paid once...
        assert seconds(results["second_run_time"]) < seconds(results["first_run_time"])  # ...and not again


class Test04TypedParameters:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("04-typed-parameters.ipynb", tmp_path, budget=99)
        assert results == {"budget": 99, "coerced": "int: 99", "invalid_parameters": ["budget", "urls"]}


class Test05Concurrency:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with(
            "05-concurrency.ipynb", tmp_path, pages=6, page_delay=0.4, max_workers=2, requests_per_second=2.0
        )
        assert (results["pages"], results["max_workers"], results["requests_per_second"]) == (6, 2, 2.0)
        assert float(results["rate_reached"].split()[0]) <= 2.0 * 1.5  # generous: a limit, not a target
        loop, mapped = seconds(results["for loop"]), seconds(results[".map"])
        assert loop >= 6 * 0.4  # one page after another
        assert mapped < loop  # concurrent beats one after another (bench/ measures by how much)


class Test06IntegrationsSlack:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("06-integrations-slack.ipynb", tmp_path, budget=80, block_name="papermill-alerts")
        assert results == {
            "budget": 80,
            "alerts_sent": 6,
            "good_deals": 2,
            "pitfall_messages": 0,
            "block_url_shown_as": "**********",
        }


class Test07PuttingItTogether:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("07-putting-it-together.ipynb", tmp_path, budget=100, product_count=4)
        assert results == {
            "budget": 100,
            "checked": 4,
            "good_deals": 1,
            "messages": 4,
            "after_sale": "Buy the shoes! Good deal!",
            "drop_reported": True,
            "history_rows": 5,  # the first run, the sale, three more
        }


class Test09Prefect2To3:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("09-prefect-2-to-3.ipynb", tmp_path, budget=50)
        assert results == {"budget": 50, "terms_mapped": 14, "new_style": "ran", "concurrent_is_thread_pool": True}


def test_kernels_turn_prefect_deprecations_into_errors(tmp_path):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import warnings\n"
                "from prefect._internal.compatibility.deprecated import PrefectDeprecationWarning\n"
                "warnings.warn('old API', PrefectDeprecationWarning)"
            )
        ]
    )
    source = tmp_path / "deprecated.ipynb"
    nbformat.write(notebook, source)
    with pytest.raises(papermill.PapermillExecutionError, match="PrefectDeprecationWarning"):
        papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False)


class Test08DeploymentsAndSchedules:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        results = run_with("08-deployments-and-schedules.ipynb", tmp_path, budget=95, prefix="papermill")
        assert results == {
            "budget": 95,
            "served_run": "Completed",
            "served_budget": 95,
            "cli_run": "Completed",
            "yaml_deployments": ["daily-price-check", "weekday-morning-check", "weekend-sale-check"],
        }


class Test10ScalingOutWithDask:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path):
        from flow_code.kit.demo_shop import CATALOG

        results = run_with("10-scaling-out-with-dask.ipynb", tmp_path, n_workers=2, budget=150, page_delay=0.1)
        assert (results["n_workers"], results["final_state"]) == (2, "Completed")
        in_stock = {product.path: product.price for product in CATALOG if product.in_stock}
        prices = {path: Decimal(price) for path, price in results["prices"].items()}
        assert prices == in_stock  # every price read by the capstone, on Dask
        assert results["workers_used"] == 2  # both worker processes ran page checks
