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

    def test_papermill(self, tmp_path, monkeypatch):
        first, again = run_twice("00-welcome.ipynb", tmp_path, monkeypatch, product_count=3)
        assert first == again == {"products_listed": 3, "in_stock": 6}


class Test01FlowsAndTasks:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        first, again = run_twice("01-flows-and-tasks.ipynb", tmp_path, monkeypatch, name="papermill")
        assert first == {
            "greeting": "HELLO, PAPERMILL!",
            "price": "70.00",
            "state": "Completed",
            "task_run_tags": [["shop"], []],  # fetch_page is tagged, read_price is not
        }
        assert again == first


class Test02Retries:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        first, again = run_twice("02-retries.ipynb", tmp_path, monkeypatch, fail_first=1, retries=2)
        assert first == {
            "fail_first": 1,
            "retries": 2,
            "requests": 2,  # one 503, then the price
            "run_count": 2,  # the API counted the same attempts
            "final_state": "Completed",
            "missing_page_requests": 1,  # retry_condition_fn did not retry the 404
        }
        assert again == first


class Test03Caching:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        first, again = run_twice("03-caching.ipynb", tmp_path, monkeypatch, page_delay=0.6)
        assert (first["page_delay"], first["first"], first["second"]) == (0.6, "Completed", "Cached")
        assert first["page_requests"] == 1  # the cached second read did not request the page
        assert seconds(first["first_task_run"]) >= 0.6  # the page delay was paid once...
        assert seconds(first["second_task_run"]) < 0.6  # ...and not again
        # Again on the same result storage: the value stored by the first run answers both reads.
        assert (again["first"], again["second"], again["page_requests"]) == ("Cached", "Cached", 0)
        for results in (first, again):
            assert results["expiry"] == ["Completed", "Cached", "Completed"]
            assert results["refreshed"] == "139.99"


class Test04TypedParameters:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        for results in run_twice("04-typed-parameters.ipynb", tmp_path, monkeypatch, budget=99):
            assert results == {
                "budget": 99,
                "coerced": "int: 99",
                "invalid_parameters": ["budget", "url"],
                "refused_run_state": "Failed",  # a call with bad parameters is a flow run, set Failed...
                "function_calls": 0,  # ...whose function never ran
            }


class Test05Concurrency:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = dict(pages=4, page_delay=0.4, max_workers=2, requests_per_second=3.0, limit_name="papermill-shop")
        for results in run_twice("05-concurrency.ipynb", tmp_path, monkeypatch, **parameters):
            assert (results["pages"], results["max_workers"], results["requests_per_second"]) == (4, 2, 3.0)
            # The limit holds: no two requests closer than 1/3 s (give or take the shop's clock), no burst.
            assert seconds(results["shortest_gap"]) >= 0.75 / 3.0
            assert float(results["rate_reached"].split()[0]) <= 3.0 * 1.2  # a ceiling, not a target
            loop, mapped, bounded = (seconds(results[how]) for how in ("for loop", ".map", "max_workers=2"))
            assert loop >= 4 * 0.4  # the tasks' time: one page after another
            assert bounded >= 2 * 0.4  # 2 threads: 2 rounds of pages
            assert mapped < bounded < loop  # concurrent beats bounded beats one after another


class Test06IntegrationsSlack:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = dict(budget=80, block_name="papermill-alerts")
        for results in run_twice("06-integrations-slack.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 80,
                "alerts_sent": 6,
                "good_deals": 2,
                "pitfall_messages": 0,
                "block_url_shown_as": "**********",
            }


class Test07PuttingItTogether:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"budget": 100, "product_count": 4}
        for results in run_twice("07-putting-it-together.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 100,
                "products": 4,
                "my_good_deals": 1,  # 160.00, 140.00, 112.97, 70.00: only the last is within 100
                "my_messages": 4,
                "nike_flow": "Completed",
                "nike_flow_good_deals": 1,
                "nike_flow_messages": 4,
            }


class Test09Prefect2To3:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        first, again = run_twice("09-prefect-2-to-3.ipynb", tmp_path, monkeypatch, budget=50)
        expected = {
            "budget": 50,
            "old_decorator": "TypeError",
            "new_style": "ran",
            "concurrent_is_thread_pool": True,
            "old_imports": ["ImportError", "ModuleNotFoundError"],
            "old_commands_exit": [1, 1, 1],
        }
        assert first == {**expected, "seed_caching": ["Completed", "Cached"]}
        # Again on the same result storage: the value the first run stored answers both calls.
        assert again == {**expected, "seed_caching": ["Cached", "Cached"]}


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

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"budget": 95, "prefix": "papermill"}  # names apart from the nbval run's ("notebook-...")
        for results in run_twice("08-deployments-and-schedules.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 95,
                "served_scheduled": 3,  # the server's scheduler: at least 3 runs ahead
                "served_at": ["09:00"],  # cron "0 9 * * 1-5" in America/New_York
                "served_weekdays_only": True,
                "served_run": "Completed",
                "served_run_budget": 95,
                "served_run_tags": ["served", "workshop"],  # the deployment's tags
                "served_messages": 3,
                "daily_scheduled": 3,
                "daily_at": ["07:00"],  # every day from an anchor at 07:00 UTC
                "daily_run": "Completed",
                "daily_run_budget": 95,
                "daily_messages": 3,
                "scheduled_after_pause": 0,
            }


class Test10ScalingOutWithDask:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        from flow_code.kit.demo_shop import CATALOG

        in_stock = {product.path: product.price for product in CATALOG if product.in_stock}
        parameters = {"n_workers": 1, "threads_per_worker": 2, "budget": 150, "page_delay": 0.3}
        for results in run_twice("10-scaling-out-with-dask.ipynb", tmp_path, monkeypatch, **parameters):
            assert (results["n_workers"], results["threads_per_worker"], results["final_state"]) == (1, 2, "Completed")
            assert (results["square_processes"], results["squares_in_kernel"]) == (1, False)  # the notebook's task
            prices = {path: Decimal(price) for path, price in results["prices"].items()}
            assert prices == in_stock  # every price read by the capstone, on Dask
            assert (results["page_tasks"], results["workers_used"]) == (6, 1)
            assert seconds(results["page_tasks_span"]) >= 3 * 0.3  # 6 pages of 0.3 s, at most 2 at a time
