"""The exercise checks of notebooks 00-05 against the session's Prefect server, the demo shop's counts and
result storage: an empty attempt gets a hint, a plausible wrong attempt gets its own hint, and neither
raises. (The pass on each solution is in the notebooks' committed outputs and their papermill runs.)"""

from datetime import timedelta

import pytest
import requests
from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from flow_code.kit import exercises
from flow_code.prices import parse_price

pytestmark = pytest.mark.usefixtures("prefect_api")


def check(exercise, capsys) -> str:
    """What `exercise.check()` printed; it must not pass."""
    capsys.readouterr()
    assert exercise.check() is False
    return capsys.readouterr().out


@task
def fetch_price(url: str):
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return parse_price(response.text)


def test_00_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("00", shop=shop)
    assert "no request for a product page" in check(exercise, capsys)


def test_00_only_the_first_product(shop, capsys):
    exercise = exercises.for_notebook("00", shop=shop)
    parse_price(requests.get(shop.product_urls()[0], timeout=5).text)
    assert "served 1 of its 6 in-stock pages" in check(exercise, capsys)


def test_00_the_sold_out_page_too(shop, capsys):
    exercise = exercises.for_notebook("00", shop=shop)
    for url in shop.product_urls(in_stock=None):
        requests.get(url, timeout=5)
    assert "request for the sold-out page" in check(exercise, capsys)


def test_01_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("01", shop=shop)
    assert "no run of a flow called `two_prices`" in check(exercise, capsys)


def test_01_plain_functions_make_no_task_runs(shop, capsys):
    exercise = exercises.for_notebook("01", shop=shop)

    @flow
    def two_prices(url_a: str, url_b: str):
        return min(parse_price(requests.get(url, timeout=5).text) for url in (url_a, url_b))

    two_prices(shop.product_urls()[0], shop.product_urls()[3])
    assert "made no task runs" in check(exercise, capsys)


def test_02_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("02", shop=shop, url=shop.product_urls()[3])
    assert "no run of a task called `patient_fetch_price`" in check(exercise, capsys)


def test_02_retries_on_the_flow(shop, capsys):
    url = shop.product_urls()[3]
    exercise = exercises.for_notebook("02", shop=shop, url=url)
    patient_fetch_price = fetch_price.with_options(name="patient_fetch_price")

    @flow(retries=1)
    def patient_check(url: str):
        return patient_fetch_price(url)

    shop.fail_first = 1  # the flow's second attempt calls the task anew, and the page answers
    patient_check(url)
    assert "set retries on the flow?" in check(exercise, capsys)


@task(cache_policy=INPUTS - "shop_url", cache_expiration=timedelta(hours=1))
def cached_price(shop_url: str, product: str):
    return parse_price(requests.get(shop_url + product, timeout=10).text)


def test_03_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("03", shop=shop, task=cached_price)
    assert "no run of a flow called `careful_twice`" in check(exercise, capsys)


def test_03_without_the_task_source(shop, capsys, tmp_path):
    exercise = exercises.for_notebook("03", shop=shop, task=cached_price)
    careful = cached_price.with_options(cache_expiration=timedelta(minutes=10))  # the key: INPUTS - "shop_url"

    @flow
    def careful_twice(shop_url: str, product: str):
        careful(shop_url, product)
        careful(shop_url, product)

    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path}):  # a result storage of this test's own
        careful_twice(shop.url, "/t/air-max-terrascape-90-mens-shoes/DH2973-100")
        assert "add `TASK_SOURCE`" in check(exercise, capsys)


def test_03_plain_inputs(shop, capsys, tmp_path):
    exercise = exercises.for_notebook("03", shop=shop, task=cached_price)
    careful = cached_price.with_options(cache_policy=INPUTS, cache_expiration=timedelta(minutes=10))

    @flow
    def careful_twice(shop_url: str, product: str):
        careful(shop_url, product)
        careful(shop_url, product)

    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path}):
        careful_twice(shop.url, "/t/air-max-terrascape-90-mens-shoes/DH2973-100")
        assert "plain `INPUTS` keeps the shop's address" in check(exercise, capsys)


@pytest.mark.filterwarnings("ignore:Logger 'prefect.task_runs' attempted to send logs")  # a task run outside a flow
def test_03_a_value_stored_just_before_is_not_the_learners(shop, capsys, tmp_path):
    """The notebook's cell before the exercise stores a 1-hour value (refresh_then_read) a moment before the
    learner's flow starts: the check judges the learner's value alone, and the solution passes."""
    from prefect.cache_policies import TASK_SOURCE

    exercise = exercises.for_notebook("03", shop=shop, task=cached_price)
    careful = cached_price.with_options(
        cache_policy=(INPUTS - "shop_url") + TASK_SOURCE, cache_expiration=timedelta(minutes=10)
    )

    @flow
    def careful_twice(shop_url: str, product: str):
        careful(shop_url, product)
        careful(shop_url, product)

    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path}):
        cached_price(shop.url, "/t/air-max-270-womens-shoes/AH6789-601")  # stored for an hour, just before
        careful_twice(shop.url, "/t/air-max-terrascape-90-mens-shoes/DH2973-100")
        capsys.readouterr()
        assert exercise.check() is True, capsys.readouterr().out


def test_04_empty_attempt(capsys):
    exercise = exercises.for_notebook("04")
    assert "no run of a flow called `watch_many`" in check(exercise, capsys)


def test_04_an_untyped_list_lets_a_bad_shoe_in(capsys):
    exercise = exercises.for_notebook("04")

    @flow
    def watch_many(shoes: list) -> int:
        return len(shoes)

    watch_many([{"url": "http://127.0.0.1:8000/t/a", "budget": 100}, {"url": "http://127.0.0.1:8000/t/b", "budget": 0}])
    assert "a run with a budget-0 shoe Completed" in check(exercise, capsys)


def test_05_empty_attempt(shop, capsys):
    exercise = exercises.for_notebook("05", shop=shop, urls=shop.product_urls()[:3])
    assert "no run of a flow called `three_workers`" in check(exercise, capsys)


def test_05_task_calls_in_a_loop_run_one_after_another(shop, capsys):
    urls = shop.product_urls()[:3]
    exercise = exercises.for_notebook("05", shop=shop, urls=urls)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=3))
    def three_workers(urls: list[str]):
        return [fetch_price(url) for url in urls]

    shop.latency = 0.1
    three_workers(urls)
    assert "ran one after another" in check(exercise, capsys)
