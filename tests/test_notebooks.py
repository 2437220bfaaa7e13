"""The course notebooks: their template, papermill runs with other parameters, strict kernels.

Strict nbval over the committed outputs runs from the same `pytest` command (`--nbval` in
pyproject.toml collects notebooks/). Here papermill runs each notebook again with non-default parameters,
right after nbval's run on the same server and kernel folder (conftest.py keeps the two on one worker, in
that order), and checks what the notebook's `results` cell measured for those parameters.
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

from conftest import kernel_folder
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
    """papermill twice in a row on one server and a kernel folder of its own (result storage, price history);
    both runs' `results`. For a notebook whose first run with other parameters is what the test checks (03: the
    page delay paid once), which a run after nbval's, on nbval's stored results, cannot show."""
    monkeypatch.setenv("KIT_KERNEL_DIR", str(tmp_path / "kernel"))
    (tmp_path / "kernel").mkdir()
    with watched(monkeypatch, tmp_path) as watch:  # and nothing either run started outlives it
        runs = run_with(notebook, tmp_path, **parameters), run_with(notebook, tmp_path, **parameters)
    watch.assert_nothing_left()
    return runs


def run_after_nbval(notebook: str, tmp_path: Path, monkeypatch, **parameters) -> list[dict]:
    """The notebook run again, with `parameters`, right after a first run on the same server and kernel folder
    (result storage, price history), as a learner who runs a notebook twice in JupyterLab.

    In the full suite the first run is nbval's (default parameters, the committed outputs): conftest.py gives
    its kernel the folder and runs this class right after it, on the same worker. Run alone, a papermill run
    with `parameters` comes first. Returns the papermill runs' `results`, oldest first; the last is a re-run.
    Nothing either run started outlives it.
    """
    folder = kernel_folder(NOTEBOOKS / notebook)
    first_run_was_nbval = folder.exists()  # made for nbval's kernel (conftest.py)
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("KIT_KERNEL_DIR", str(folder))
    with watched(monkeypatch, tmp_path) as watch:
        runs = [run_with(notebook, tmp_path, **parameters) for _ in range(1 if first_run_was_nbval else 2)]
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
        for results in run_after_nbval("00-welcome.ipynb", tmp_path, monkeypatch, product_count=3):
            # exercise_passed: the solution's check saw each in-stock page requested, the sold-out one not
            assert results == {"products_listed": 3, "in_stock": 6, "exercise_passed": True}


class Test01FlowsAndTasks:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        for results in run_after_nbval("01-flows-and-tasks.ipynb", tmp_path, monkeypatch, name="papermill"):
            assert results == {
                "greeting": "HELLO, PAPERMILL!",
                "price": "70.00",
                "state": "Completed",
                "task_run_tags": [["shop"], []],  # fetch_page is tagged, read_price is not
                "exercise_passed": True,  # the solution's check: two_prices made 4 task runs, 2 tagged shop
            }


class Test02Retries:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        for results in run_after_nbval("02-retries.ipynb", tmp_path, monkeypatch, fail_first=1, retries=2):
            assert results == {
                "fail_first": 1,
                "retries": 2,
                "requests": 2,  # one 503, then the price
                "run_count": 2,  # the API counted the same attempts
                "final_state": "Completed",
                "missing_page_requests": 1,  # retry_condition_fn did not retry the 404
                "exercise_passed": True,  # the solution's check: 5 attempts, 5 requests, Completed
            }


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
            assert results["exercise_passed"]  # Completed, Cached (or Cached twice), key and expiry right


class Test04TypedParameters:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        for results in run_after_nbval("04-typed-parameters.ipynb", tmp_path, monkeypatch, budget=99):
            assert results == {
                "budget": 99,
                "coerced": "int: 99",
                "invalid_parameters": ["budget", "url"],
                "refused_run_state": "Failed",  # a call with bad parameters is a flow run, set Failed...
                "function_calls": 0,  # ...whose function never ran
                "exercise_passed": True,  # the solution's check: Completed, and Failed naming shoes.1.budget
            }


class Test05Concurrency:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = dict(pages=4, page_delay=0.4, max_workers=2, requests_per_second=3.0, limit_name="papermill-shop")
        for results in run_after_nbval("05-concurrency.ipynb", tmp_path, monkeypatch, **parameters):
            assert (results["pages"], results["max_workers"], results["requests_per_second"]) == (4, 2, 3.0)
            # The limit holds: no two requests closer than 1/3 s (give or take the shop's clock), no burst.
            assert seconds(results["shortest_gap"]) >= 0.75 / 3.0
            assert float(results["rate_reached"].split()[0]) <= 3.0 * 1.2  # a ceiling, not a target
            loop, mapped, bounded = (seconds(results[how]) for how in ("for loop", ".map", "max_workers=2"))
            assert loop >= 4 * 0.4  # the tasks' time: one page after another
            assert bounded >= 2 * 0.4  # 2 threads: 2 rounds of pages
            assert mapped < bounded < loop  # concurrent beats bounded beats one after another
            assert results["exercise_passed"]  # the solution's check: 4 task runs, at most 3 at once


class Test06IntegrationsSlack:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = dict(budget=80, block_name="papermill-alerts")
        for results in run_after_nbval("06-integrations-slack.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 80,
                "alerts_sent": 6,
                "good_deals": 2,
                "pitfall_messages": 0,
                "block_url_shown_as": "**********",
                "exercise_passed": True,  # the solution's check: message received, block deleted
            }


class Test07PuttingItTogether:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"budget": 100, "product_count": 4}
        for results in run_after_nbval("07-putting-it-together.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 100,
                "products": 4,
                "my_good_deals": 1,  # 160.00, 140.00, 112.97, 70.00: only the last is within 100
                "my_messages": 4,
                "nike_flow": "Completed",
                "nike_flow_good_deals": 1,
                "nike_flow_messages": 4,
                "exercise_passed": True,  # compare_price-99.99 ran (or was cached by the first run), Slack told
            }


class Test09Prefect2To3:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        runs = run_after_nbval("09-prefect-2-to-3.ipynb", tmp_path, monkeypatch, budget=50)
        expected = {
            "budget": 50,
            "old_decorator": "TypeError",
            "new_style": "ran",
            "concurrent_is_thread_pool": True,
            "old_imports": ["ImportError", "ModuleNotFoundError"],
            "old_commands_exit": [1, 1, 1],
            "exercise_passed": True,  # the seed-schedules deployment's Cron and Interval, read back
        }
        # The budget is part of the seed task's cache key: the first run with budget=50 computes the value
        # (nbval's run had another budget), a run after it finds the stored value for both calls.
        assert runs[0] == {**expected, "seed_caching": ["Completed", "Cached"]}
        for again in runs[1:]:
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
        for results in run_after_nbval("08-deployments-and-schedules.ipynb", tmp_path, monkeypatch, **parameters):
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
                "exercise_passed": True,  # the weekend deployment: RRule in Paris, budget, tags, its runs
            }


class Test10ScalingOutWithDask:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        from flow_code.kit.demo_shop import CATALOG

        in_stock = {product.path: product.price for product in CATALOG if product.in_stock}
        parameters = {"n_workers": 1, "threads_per_worker": 2, "budget": 150, "page_delay": 0.3}
        for results in run_after_nbval("10-scaling-out-with-dask.ipynb", tmp_path, monkeypatch, **parameters):
            assert (results["n_workers"], results["threads_per_worker"], results["final_state"]) == (1, 2, "Completed")
            assert (results["square_processes"], results["squares_in_kernel"]) == (1, False)  # the notebook's task
            prices = {path: Decimal(price) for path, price in results["prices"].items()}
            assert prices == in_stock  # every price read by the capstone, on Dask
            assert (results["page_tasks"], results["workers_used"]) == (6, 1)
            assert seconds(results["page_tasks_span"]) >= 3 * 0.3  # 6 pages of 0.3 s, at most 2 at a time
            assert results["exercise_passed"]  # on one thread, the API shows no two page checks at once


class Test13Resilience:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"timeout_seconds": 0.3, "slow_page": 1.0, "steps": 2}
        for results in run_after_nbval("13-resilience.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "timeout_seconds": 0.3,
                "hooks_heard": [  # each hook once per state, the task's before its flow's
                    "task fetch_price: Completed",
                    "flow price-of: Completed",
                    "task fetch_price: Failed",
                    "flow price-of: Failed",
                ],
                "crashed_hook": "flow price-of: Crashed",  # the asyncio task running the flow was cancelled
                "slack_alerts": 1,  # the async on_failure hook posted once
                "child_runs": ["Completed", "Completed"],  # read back by parent_flow_run_id
                "reports": ["NotReady", "Completed: report written"],  # without and with allow_failure
                "cancel_pages_fetched": 2,  # an in-process run asked to cancel runs every step...
                "task_timeout": ("TimedOut", "Task run exceeded timeout of 0.3 second(s)"),
                "flow_timeout": ["TimedOut", "Flow run exceeded timeout of 0.3 second(s)"],
                "cancel_requested": ["Cancelling", "Cancelling"],  # ...and stays Cancelling
                "transaction": ["no order: card declined", {"reserve_pair": "RolledBack", "charge_card": "Failed"}],
                "orders": ["reserved air-max-270"],  # the declined order was undone, the paid one kept
                "exercise_passed": True,  # hold_shoe RolledBack, confirm_payment TimedOut, no hold left
            }


class Test14HumanInTheLoop:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"budget": 100, "approve_up_to": 150, "answer_timeout": 60, "short_timeout": 1}
        for results in run_after_nbval("14-human-in-the-loop.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 100,
                "approve_up_to": 150,
                "asked": ["approve", "max_price", "note"],  # the form's fields, from the RunInput's schema
                "wrong_answer": "'maybe' is not of type 'boolean'",  # refused by the server
                "decision": "not bought: 160.00 is over the approved 150 (a birthday present)",
                "states": ["Pending", "Running", "Paused", "Running", "Completed"],
                "stored_answer": {"approve": True, "max_price": 150, "note": "a birthday present"},
                "no_answer": ["Pending", "Running", "Paused", "Failed"],  # nobody answered within 1 s
                "never_resumed": True,  # the message of the flow's or the server's Failed: both say so
                "suspend": "Flow run cannot be suspended: Cannot suspend flows without a deployment.",
                "exercise_passed": True,  # choose-size paused, resumed with size 10.5, completed
            }


class Test11ObserveArtifactsAndEvents:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"prefix": "papermill", "budget": 100}  # keys apart from the nbval run's ("notebook-...")
        for results in run_after_nbval("11-observe-artifacts-and-events.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 100,
                "rows": 6,  # one per product in stock, read back from the table artifact
                "within_budget": 2,  # 70.00 and 75.00
                "artifact_types": {
                    "prices": "table",
                    "summary": "markdown",
                    "cheapest": "markdown",  # a link artifact is stored as markdown
                    "progress": "progress",
                },
                "progress_steps": 6,
                "progress": 100,  # the progress artifact, read back after its last update
                "dropped": {"price": "59.99", "previous_price": "70.00", "currency": "USD"},
                "drop_run_events": {  # read back from the API: the run's own events and ours
                    "prefect.flow-run.Completed": 1,
                    "prefect.flow-run.Pending": 1,
                    "prefect.flow-run.Running": 1,
                    "prefect.task-run.Completed": 6,
                    "prefect.task-run.Pending": 6,
                    "prefect.task-run.Running": 6,
                    "shoe.price.dropped": 1,
                },
                "revolution_versions": ["59.99", "70.00"],  # two versions of the key, newest first
                "capstone_rows": 3,  # the capstone's shoe-prices table, from its run
                "deals": 2,  # the exercise's solution...
                "exercise_passed": True,  # ...which its check passed: a table of 2 rows and 2 shoe.deal.found events
            }


class Test12ReactAutomations:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"prefix": "papermill", "quiet_seconds": 12, "budget": 100}  # names apart from nbval's
        for results in run_after_nbval("12-react-automations.ipynb", tmp_path, monkeypatch, **parameters):
            assert results == {
                "budget": 100,
                "quiet_seconds": 12,
                "drop_alert": "Price drop",  # sent by the server, read at the receiver
                "failed_run": "Failed",
                "failed_alert": "Run failed",
                "trigger_action": "RunDeployment",  # what serve(triggers=[...]) created on the server
                "triggered_run": "Completed",
                "triggered_by": "AUTOMATION",
                "triggered_urls": ["/t/air-max-270-womens-shoes/AH6789-601"],  # from the event's payload
                "triggered_budget": 100,
                "capstone_says_buy": False,  # 119.99 is over 100
                "proactive_fired_after_window": True,
                "exercise_passed": True,  # the server sent the sold-out message naming the product
            }


class Test15TestingYourFlows:
    """papermill, with other parameters (a class of its own, so xdist runs it in parallel)."""

    def test_papermill(self, tmp_path, monkeypatch):
        parameters = {"budget": 60, "page_failures": 1}
        for results in run_after_nbval("15-testing-your-flows.ipynb", tmp_path, monkeypatch, **parameters):
            too_expensive = "Don't buy the shoes. They're too expensive"
            assert results == {
                "budget": 60,
                "page_failures": 1,
                "fn_decisions": ["Buy the shoes! Good deal!", too_expensive],  # at the budget, one cent over
                "fn_price": "112.97",
                "fn_flaky_requests": 1,  # .fn() made one request and no retry
                "missing_page": ["FAILED", "Failed"],
                "compare_price": ["Completed", "Cached"],  # refreshed, then found in the cache (a run again too)
                "flow_run": "Completed",
                "decisions": [too_expensive, too_expensive],  # 112.97 and 70.00, both over 60
                "artifact_rows": 2,
                "slack_messages": 2,
                "pytest": "4 passed",  # on the harness's temporary server...
                "test_runs_on_course_server": 0,  # ...not on the course's
                "exercise_passed": True,  # 1 failure, 2 attempts, 2 requests
            }
