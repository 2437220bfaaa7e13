"""The exercise check of notebook 15 (a test of find_nike_price's retries) against the session's server and shop.

An empty attempt gets a hint, and so does each plausible wrong attempt: `.fn()` (no task run, no retries),
a page that did not fail (nothing retried), a second call without `shop.reset()` (the count includes the
first). The passing attempt is the notebook's solution, checked in the notebook (`exercise_passed` in its
`results`, asserted by tests/test_notebooks.py).
"""

import pytest
from check_output import hint_for
from prefect.settings import PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW, temporary_settings

from flow_code.fetch import PageError
from flow_code.kit import exercises
from flow_code.nike_flow import find_nike_price

pytestmark = pytest.mark.usefixtures("prefect_api")
REVOLUTION = "/t/revolution-7-mens-road-running-shoes/FB2207-001"


@pytest.fixture
def exercise(shop):
    """Notebook 15's exercise on the session's shop, with tasks called outside flows (as the notebook does)."""
    with temporary_settings(updates={PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore"}):
        yield exercises.for_notebook("15", shop=shop, url=shop.url + REVOLUTION, fail_first=2)


def test_15_empty_attempt(exercise, capsys):
    assert "the page got no request" in hint_for(exercise, capsys)


def test_15_the_plain_function(exercise, shop, capsys):
    shop.fail_first = 2
    with pytest.raises(PageError):
        find_nike_price.fn(exercise.props["url"])  # no task run, no retries: fails at the first 503
    assert "`.fn()` runs the plain function" in hint_for(exercise, capsys)


def test_15_a_page_that_did_not_fail(exercise, capsys):
    state = find_nike_price.with_options(retry_delay_seconds=0)(exercise.props["url"], return_state=True)
    assert state.is_completed()
    assert "passed at its first attempt" in hint_for(exercise, capsys)


def test_15_a_second_call_without_reset(exercise, shop, capsys):
    shop.fail_first = 2
    retried = find_nike_price.with_options(retry_delay_seconds=0)
    assert retried(exercise.props["url"], return_state=True).is_completed()  # 3 requests, 3 attempts
    assert retried(exercise.props["url"], return_state=True).is_completed()  # 1 more: the page fails no more
    said = hint_for(exercise, capsys)
    assert "the page got 4 requests" in said and "made 1 attempt(s)" in said and "earlier calls" in said


def test_15_the_retries_pass(exercise, shop, capsys):
    shop.fail_first = 2
    state = find_nike_price.with_options(retry_delay_seconds=0)(exercise.props["url"], return_state=True)
    assert state.is_completed()
    assert exercise.check(), capsys.readouterr().out
    assert "Completed after 3 attempts; the page got 3 requests" in capsys.readouterr().out
