"""The course's exercise checks, one per notebook: each reads the learner's runs, the shop or the receiver.

Each check returns the evidence of a pass or raises `Hint` with one specific hint about what is off.
Registered by notebook number; `exercises.for_notebook("NN", ...)` finds them.
"""

from __future__ import annotations

from flow_code.kit.exercises import Exercise, Hint, check_for

# --- notebooks 00-05 ---


def _runs_of(exercise: Exercise, flow_name: str, mentioning: str) -> list:
    """Runs of the flow `flow_name` made since the exercise began, newest first.

    Only those whose parameters mention `mentioning` (this notebook's shop), when some do: another notebook
    may run a flow of the same name on the same server meanwhile.
    """
    runs = exercise.flow_runs(flow_name)
    return [run for run in runs if mentioning in str(run.parameters)] or runs


def _last_completed_run(exercise: Exercise, function: str, mentioning: str, how: str = "call it."):
    """The newest run of the flow function `function` since the exercise began; a hint if none, or if it failed."""
    runs = _runs_of(exercise, function.replace("_", "-"), mentioning)
    if not runs:
        raise Hint(
            f"no run of a flow called `{function}` since the exercise began (the API spells it "
            f"`{function.replace('_', '-')}`): define it with `@flow` and {how}"
        )
    run = runs[0]
    if not run.state.is_completed():
        raise _ended_badly(run, f"your last run of {function}")
    return run


def _task_runs_of(exercise: Exercise, task_name: str, mentioning: str) -> list:
    """Runs of the task `task_name` made since the exercise began, newest first, once final; only those whose
    flow run's parameters mention `mentioning`, when some do (as `_runs_of`)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    task_runs = exercise.task_runs(task_name)
    if not task_runs:
        return []
    ids = FlowRunFilter(id=FlowRunFilterId(any_=list({run.flow_run_id for run in task_runs})))
    with get_client(sync_client=True) as client:
        mine = {run.id for run in client.read_flow_runs(flow_run_filter=ids) if mentioning in str(run.parameters)}
    return [run for run in task_runs if run.flow_run_id in mine] or task_runs


def _counted(names: list[str]) -> str:
    """Names and how often each comes, as "2 fetch_page, 1 read_price"."""
    from collections import Counter

    return ", ".join(f"{count} {name}" for name, count in Counter(names).items())


@check_for(
    "00",
    hints=[
        "Loop over `products`: each product is a dict with its `name`, `url` and `in_stock`.",
        "Test `product['in_stock']` before you request a page: a sold-out page has no price.",
        "`parse_price(requests.get(product['url'], timeout=5).text)` reads one page's price.",
    ],
)
def in_stock_prices_exercise(exercise: Exercise) -> str:
    shop = exercise.props["shop"]
    in_stock, sold_out = shop.product_urls(), shop.product_urls(in_stock=False)
    read = [url for url in in_stock if shop.requests_for(url)]
    if any(shop.requests_for(url) for url in sold_out):
        raise Hint(
            "the shop got a request for the sold-out page, which has no price (`parse_price` raises "
            "`PriceNotFound`): test `product['in_stock']` before you request a page. Then run the cell that "
            "makes `exercise` again (it resets the counts), and your code."
        )
    if not read:
        raise Hint(
            "the shop got no request for a product page since `shop.reset()`: request each product's `url` "
            "with `requests.get(...)` and give the page's text to `parse_price`."
        )
    if len(read) < len(in_stock):
        raise Hint(
            f"the shop served {len(read)} of its {len(in_stock)} in-stock pages: loop over all of `products`, "
            "not only the first."
        )
    return f"the shop served all {len(in_stock)} in-stock pages, and not the sold-out one"


@check_for(
    "01",
    hints=[
        "A flow is a function under `@flow`: `def two_prices(url_a: str, url_b: str):`.",
        "In the flow, read each URL with the tasks from above, `read_price(fetch_page(url_a))`, and return the "
        "`min` of the two prices.",
        "Run it with `two_prices(shop.product_urls()[0], shop.product_urls()[3], return_state=True)`.",
    ],
)
def two_prices_exercise(exercise: Exercise) -> str:
    from flow_code.kit.exercises import _task_of
    from flow_code.kit.notebook_helpers import read_task_runs

    shop = exercise.props["shop"]
    run = _last_completed_run(exercise, "two_prices", mentioning=shop.url)
    wanted = {shop.product_urls()[0], shop.product_urls()[3]}
    if {str(value) for value in run.parameters.values()} != wanted:
        raise Hint(
            "run it on `shop.product_urls()[0]` and `shop.product_urls()[3]`, passed as its two parameters; "
            f"your last run had {run.parameters}."
        )
    task_runs = read_task_runs(run.id)
    names = [_task_of(task_run) for task_run in task_runs]
    if not task_runs:
        raise Hint(
            "your flow ran but made no task runs: call the tasks `fetch_page` and `read_price` from above in it "
            "(a function without `@task` makes no task run)."
        )
    if sorted(names) != ["fetch_page", "fetch_page", "read_price", "read_price"]:
        raise Hint(
            f"your flow made {len(task_runs)} task runs ({_counted(names)}): read each of the two URLs with "
            "`fetch_page`, then `read_price`, 4 task runs in all."
        )
    tagged = sum("shop" in task_run.tags for task_run in task_runs)
    if tagged != 2:
        raise Hint(
            f"{tagged} of its task runs carry the tag `shop`: use the `fetch_page` from above, whose `@task` has "
            '`tags=["shop"]`.'
        )
    return f"two_prices made 4 task runs ({_counted(names)}), 2 of them tagged 'shop', and ended {run.state.name}"


PATIENT_DELAYS = [0.05, 0.1, 0.2, 0.4, 0.8]  # exponential_backoff(backoff_factor=0.05) for 5 retries


@check_for(
    "02",
    hints=[
        "Retries belong to the task: `@task(retries=5, retry_delay_seconds=..., retry_condition_fn=...)`.",
        "The shop fails the first 4 requests: the task needs at least 4 retries to reach the 5th.",
        "Set `shop.reset(); shop.fail_first = 4` right before you run your flow.",
    ],
)
def retries_exercise(exercise: Exercise) -> str:
    shop, url = exercise.props["shop"], exercise.props["url"]
    runs = _task_runs_of(exercise, "patient_fetch_price", mentioning=url)
    if not runs:
        raise Hint(
            "no run of a task called `patient_fetch_price` since the exercise began: define it with `@task`, "
            "call it from a flow and run that flow."
        )
    latest = runs[0]
    in_one_flow_run = [run for run in runs if run.flow_run_id == latest.flow_run_id]
    if len(in_one_flow_run) > 1:
        raise Hint(
            f"one flow run made {len(in_one_flow_run)} runs of patient_fetch_price, each tried "
            f"{', '.join(str(run.run_count) for run in reversed(in_one_flow_run))} time(s): a flow with retries "
            "calls the task anew on each attempt. Did you set retries on the flow? They belong on `@task`."
        )
    policy = latest.empirical_policy
    if latest.state.is_completed() and latest.run_count == 1:
        raise Hint(
            "your task succeeded at its first attempt, so nothing was retried: the page did not fail. Run "
            "`shop.reset(); shop.fail_first = 4` right before your flow."
        )
    if not latest.state.is_completed() and latest.run_count == 1:
        raise Hint(
            "your task ran once and failed: it has no retries (set them on `@task`, not on `@flow`), or its "
            "retry_condition_fn said no."
        )
    if not latest.state.is_completed():
        raise Hint(
            f"it gave up after {latest.run_count} attempts ({latest.state.name}) with retries={policy.retries}: "
            "the shop fails 4 times, and the exercise asks for 5 retries."
        )
    if policy.retries != 5:
        raise Hint(f"your task has retries={policy.retries}: the exercise asks for 5 (4 is just enough here).")
    delays = policy.retry_delay if isinstance(policy.retry_delay, list) else [policy.retry_delay]
    if [round(delay, 3) for delay in delays] != PATIENT_DELAYS:
        raise Hint(
            f"your retries waited {delays} s: `retry_delay_seconds=exponential_backoff(backoff_factor=0.05)` "
            "doubles the wait each time, 0.05 s to 0.8 s."
        )
    return (
        f"{latest.run_count} attempts, the page got {shop.requests_for(url)} requests; retries=5 waiting "
        f"0.05 s to 0.8 s; final state {latest.state.name}"
    )


TERRASCAPE = "/t/air-max-terrascape-90-mens-shoes/DH2973-100"  # the product notebook 03's exercise reads


def _stored_results(flow_run, keys: tuple[str, ...]) -> tuple[dict, bool]:
    """`{cache key: seconds from storing to expiry (None: never)}` of the results this kernel stored while
    `flow_run` ran, and True; when it stored none (its tasks were Cached), those of `keys` that are stored,
    and False. Local result storage names each file after its key."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from prefect.results import ResultStore
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    def stored_at(path: Path) -> datetime:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def lifetime(path: Path) -> float | None:
        expiration = ResultStore().read(path.name).metadata.expiration
        return (expiration - stored_at(path)).total_seconds() if expiration else None

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    # From the run's start, not before: a cached task of the cell before (03's refresh_then_read) may have
    # stored its value a fraction of a second before this run started.
    start, end = flow_run.start_time, flow_run.end_time + timedelta(seconds=1)
    written = [path for path in storage.glob("*") if start <= stored_at(path) <= end]
    if written:
        return {path.name: lifetime(path) for path in written}, True
    return {key: lifetime(storage / key) for key in keys if (storage / key).is_file()}, False


@check_for(
    "03",
    hints=[
        "`with_options` copies the task with other settings: "
        '`cached_price.with_options(cache_policy=(INPUTS - "shop_url") + TASK_SOURCE, cache_expiration=...)`.',
        "`cache_expiration=timedelta(minutes=10)`; `TASK_SOURCE` comes from `prefect.cache_policies`.",
        "The flow `careful_twice(shop_url, product)` calls the copy twice with the same arguments; run it on "
        f'`shop.url` and `"{TERRASCAPE}"`.',
    ],
)
def careful_cache_exercise(exercise: Exercise) -> str:
    from types import SimpleNamespace

    from prefect.cache_policies import INPUTS, TASK_SOURCE

    from flow_code.kit.notebook_helpers import read_task_runs

    shop, task = exercise.props["shop"], exercise.props["task"]
    run = _last_completed_run(exercise, "careful_twice", mentioning=shop.url)
    states = [task_run.state.name for task_run in read_task_runs(run.id)]
    if len(states) != 2:
        raise Hint(f"careful_twice made {len(states)} task runs ({states}): call your copy twice, same arguments.")
    if states[1] != "Cached":
        raise Hint(
            f"the second call ended {states[1]}, not Cached: did your copy keep a cache policy (not NO_CACHE), "
            "without `refresh_cache=True`, and get the same arguments both times?"
        )
    inputs = {"shop_url": shop.url, "product": TERRASCAPE}
    inputs_only, with_shop_url, plain_inputs, wanted = (
        policy.compute_key(task_ctx=SimpleNamespace(task=task), inputs=inputs, flow_parameters={})
        for policy in (INPUTS - "shop_url", INPUTS + TASK_SOURCE, INPUTS, (INPUTS - "shop_url") + TASK_SOURCE)
    )
    stored, by_this_run = _stored_results(run, (inputs_only, with_shop_url, plain_inputs, wanted))
    if not by_this_run and wanted in stored:  # Cached twice: what matters is the value the right key finds
        stored = {wanted: stored[wanted]}
    keys = set(stored)
    if wanted not in keys and inputs_only in keys:
        raise Hint(
            '`INPUTS - "shop_url"` alone made your cache key: add `TASK_SOURCE`, so that a change to the task\'s '
            "code changes the key."
        )
    if wanted not in keys and with_shop_url in keys:
        raise Hint(
            "your cache key includes the shop's address, which changes each time the shop starts: keep "
            '`INPUTS - "shop_url"` in the policy.'
        )
    if wanted not in keys and plain_inputs in keys:
        raise Hint(
            "plain `INPUTS` keeps the shop's address in your cache key, and leaves the task's code out: use "
            '`(INPUTS - "shop_url") + TASK_SOURCE`.'
        )
    lifetimes = list(stored.values())
    if not all(lifetime and abs(lifetime - 600) < 30 for lifetime in lifetimes):
        kept = ", ".join("forever" if lifetime is None else f"{lifetime / 60:.1f} minutes" for lifetime in lifetimes)
        raise Hint(f"your value is kept {kept}: set `cache_expiration=timedelta(minutes=10)`.")
    ended = f"careful_twice's task runs ended {', '.join(states)}"
    if not stored:  # Cached twice, from a value stored under a key none of the policies above makes
        return f"{ended}, with the value an earlier run stored"
    key = "a key of the product and the task's code" if wanted in keys else "your task's cache key"
    how = "for 10 minutes" if by_this_run else "for 10 minutes, by an earlier run"
    return f"{ended}; the value is stored under {key}, {how}"


@check_for(
    "04",
    hints=[
        "`@flow` over `def watch_many(shoes: list[ShoeWatch]) -> int: return len(shoes)`.",
        'A shoe is a dict: `{"url": "http://127.0.0.1:8000/t/a", "budget": 100}`.',
        "Call it once with `[good_shoe]`, then with `[good_shoe, bad_shoe]` and `return_state=True`; print "
        "`state.message`.",
    ],
)
def watch_many_exercise(exercise: Exercise) -> str:
    runs = exercise.flow_runs("watch-many")
    if not runs:
        raise Hint(
            "no run of a flow called `watch_many` since the exercise began (the API spells it `watch-many`): "
            "define it with `@flow` and call it."
        )
    completed = [run for run in runs if run.state.is_completed()]
    failed = [run for run in runs if run.state.is_failed()]
    for run in completed:
        shoes = run.parameters.get("shoes") or []
        if any(isinstance(shoe, dict) and shoe.get("budget") == 0 for shoe in shoes):
            raise Hint(
                "a run with a budget-0 shoe Completed: Prefect checks only what the type hint says. Annotate "
                "the parameter `shoes: list[ShoeWatch]`."
            )
    if not completed:
        raise Hint("no Completed run yet: call watch_many with one valid shoe first (a URL and a budget above 0).")
    if not failed:
        raise Hint("every run Completed: now call it with a valid shoe and then one whose budget is 0.")
    message = failed[0].state.message or ""
    if "shoes.1.budget" not in message:
        if "shoes.0.budget" in message:
            raise Hint("the message names `shoes.0.budget`, the first shoe: put the valid shoe first, the bad second.")
        reason = message.splitlines()[-1].strip(" -") if message else failed[0].state.name
        raise Hint(f"your run was refused for something else ({reason}): give both shoes a valid URL.")
    return (
        f"{len(runs)} runs of watch_many: one Completed, one Failed whose message names `shoes.1.budget` "
        "(list item 1, the second shoe)"
    )


def _most_running(task_runs) -> int:
    """The most task runs running at one moment, by their start and end times in the API."""
    edges = sorted([(run.start_time, 1) for run in task_runs] + [(run.end_time, -1) for run in task_runs])
    running = most = 0
    for _, change in edges:  # at equal times an end (-1) sorts first: one ending as another starts is not "at once"
        running += change
        most = max(most, running)
    return most


@check_for(
    "05",
    hints=[
        "`@flow(task_runner=ThreadPoolTaskRunner(max_workers=3))` gives the flow three threads.",
        "`futures = [fetch_price.submit(url) for url in urls]` submits them all at once; "
        "`[future.result() for future in futures]` waits for them.",
        "Time the tasks inside the flow with `time.perf_counter()`, as the flows above do.",
    ],
)
def three_workers_exercise(exercise: Exercise) -> str:
    from math import ceil

    from flow_code.kit.exercises import _task_of
    from flow_code.kit.notebook_helpers import read_task_runs

    shop, urls = exercise.props["shop"], exercise.props["urls"]
    run = _last_completed_run(exercise, "three_workers", mentioning=shop.url, how="call it on `urls`.")
    fetches = [task_run for task_run in read_task_runs(run.id) if _task_of(task_run) == "fetch_price"]
    if len(fetches) != len(urls):
        raise Hint(f"your flow made {len(fetches)} runs of fetch_price for {len(urls)} URLs: submit one per URL.")
    at_once = _most_running(fetches)
    if at_once == 1:
        raise Hint(
            "your task runs ran one after another: did you call `fetch_price(url)` rather than "
            "`fetch_price.submit(url)`?"
        )
    if at_once != min(3, len(urls)):
        raise Hint(
            f"up to {at_once} task runs ran at once: give the flow "
            "`task_runner=ThreadPoolTaskRunner(max_workers=3)`, three threads."
        )
    return (
        f"{len(fetches)} fetch_price task runs, at most {at_once} at once (their start and end times in the "
        f"API): {ceil(len(urls) / 3)} rounds of page_delay"
    )


# --- notebooks 06-10 ---

SLACK_BLOCK_TYPE = "slack-incoming-webhook"  # prefect-slack's SlackWebhook block
DROPS_TEXT = "Prices dropped!"
CAPSTONE_FLOW = "Shoe Price Notification"


def _flow_runs_started_since(exercise: Exercise, flow_name: str | None = None) -> list:
    """Flow runs (of the flow `flow_name`, if given) that started since the exercise began, newest first.

    Filtered on their start time by the server: the runs a schedule made for later have none, so they never
    crowd out the learner's runs.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    flow_filter = FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None
    started = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=exercise.since))
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=flow_filter, flow_run_filter=started, sort=FlowRunSort.START_TIME_DESC, limit=50
        )


def _on_shop(flow_run, shop) -> bool:
    """Did this run of a price tracker watch pages of this notebook's shop (its `urls` parameter)?"""
    urls = flow_run.parameters.get("urls") or []
    return any(str(url).startswith(shop.url) for url in urls)


def _block_exists(name: str) -> bool:
    """Is a SlackWebhook block called `name` saved on the server?"""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_block_document_by_name(name, block_type_slug=SLACK_BLOCK_TYPE)
        except ObjectNotFound:
            return False
    return True


def _deployment_named(name: str):
    """The deployment `"flow name/deployment name"`, or None."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None


def _scheduled_runs(deployment_id, at_least: int = 3, seconds: float = 15) -> list:
    """The deployment's Scheduled flow runs, soonest first; waits up to `seconds` for `at_least` of them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from flow_code.kit.processes import wait_until

    this_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    scheduled = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    runs = []
    with get_client(sync_client=True) as client:

        def enough() -> bool:
            runs[:] = client.read_flow_runs(
                deployment_filter=this_deployment, flow_run_filter=scheduled, sort=FlowRunSort.EXPECTED_START_TIME_ASC
            )
            return len(runs) >= at_least

        wait_until(enough, seconds)
    return runs


def _most_at_once(task_runs) -> int:
    """The most task runs that were running at the same moment, from their start and end times in the API."""
    edges = sorted(
        [(run.start_time, 1) for run in task_runs if run.start_time and run.end_time]
        + [(run.end_time, -1) for run in task_runs if run.start_time and run.end_time]
    )  # at equal times an end (-1) sorts before a start (+1): one that ends as another starts is not "at once"
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def _ended_badly(flow_run, what: str) -> Hint:
    return Hint(f"{what} ended {flow_run.state.name}: {flow_run.state.message}")


@check_for(
    "06",
    hints=[
        'Save the block first: `await SlackWebhook(url=receiver.webhook_url).asave(f"{block_name}-drops")`.',
        "Give the flow a parameter for the block's name, as `price_alerts` has `slack_webhook_block`, and load "
        'the block inside the flow: `SlackWebhook.load(name).notify("Prices dropped!")`.',
        'When the message has arrived, delete the block: `await SlackWebhook.adelete(f"{block_name}-drops")`.',
    ],
)
def slack_block_exercise(exercise: Exercise) -> str:
    receiver, block = exercise.props["receiver"], exercise.props["block"]
    runs = _flow_runs_started_since(exercise)
    if any(receiver.webhook_url in str(run.parameters) for run in runs):
        raise Hint(
            "a flow run has the webhook URL in its parameters, which are stored with the run and shown in the UI: "
            "give the flow the block's name instead, and load the block inside the flow."
        )
    named = [run for run in runs if block in run.parameters.values()]
    arrived = DROPS_TEXT in receiver.texts()
    if not named and arrived:
        raise Hint(
            f"{DROPS_TEXT!r} arrived, but no flow run since the exercise began has the block's name {block!r} in "
            "its parameters: give the flow a parameter for it, as `price_alerts` has `slack_webhook_block`."
        )
    if not named:
        raise Hint(
            f"no flow run since the exercise began has {block!r} in its parameters: save the block under that "
            "name, then run a flow that takes the name and loads the block."
        )
    latest = named[0]
    if latest.state.is_failed() and "Unable to find block document" in (latest.state.message or ""):
        raise Hint(f"your flow could not load the block {block!r}: save it before the flow runs (`asave`).")
    if not latest.state.is_completed():
        raise _ended_badly(latest, "your flow run")
    if not arrived:
        near = [text for text in receiver.texts() if text.strip(" !.").lower() == "prices dropped"]
        if near:
            raise Hint(f"the receiver got {near[-1]!r}: the check looks for exactly {DROPS_TEXT!r}.")
        raise Hint(
            f"your flow run ended Completed, but no {DROPS_TEXT!r} arrived: an async task or method "
            "(`send_incoming_webhook_message`, `notify_async`) called without `await` in a sync flow sends "
            "nothing. Call `.notify(...)`."
        )
    if _block_exists(block):
        raise Hint(f"{DROPS_TEXT!r} arrived; now delete the block: `await SlackWebhook.adelete({block!r})`.")
    return (
        f"the receiver got {DROPS_TEXT!r} from a flow run that ended Completed with the block's name {block!r} "
        f"in its parameters, not the URL; the block {block!r} is deleted"
    )


@check_for(
    "07",
    hints=[
        'Put the first product on sale before the run: `shop.set_price(urls[0], "99.99")`.',
        "Then run your flow as before: `my_nike_flow(urls, budget)`.",
        "`compare_price` is cached on its inputs: only a comparison with new inputs runs.",
    ],
)
def sale_exercise(exercise: Exercise) -> str:
    from decimal import Decimal
    from urllib.parse import urlsplit

    from flow_code.kit.notebook_helpers import read_task_runs

    shop, receiver, urls = exercise.props["shop"], exercise.props["receiver"], exercise.props["urls"]
    runs = [run for run in _flow_runs_started_since(exercise, "My Shoe Price Notification") if _on_shop(run, shop)]
    if not runs:
        if any(_on_shop(run, shop) for run in _flow_runs_started_since(exercise, CAPSTONE_FLOW)):
            raise Hint("you ran the capstone's `nike_flow`: the exercise runs your own `my_nike_flow(urls, budget)`.")
        raise Hint(
            "no run of your flow 'My Shoe Price Notification' since the exercise began: put the first product on "
            "sale, then run `my_nike_flow(urls, budget)`."
        )
    latest = runs[0]
    if not latest.state.is_completed():
        raise _ended_badly(latest, "your run of my_nike_flow")
    comparisons = {run.name: run.state.name for run in read_task_runs(latest.id) if run.name.startswith("compare_")}
    if "compare_price-99.99" not in comparisons:
        if shop.products[urlsplit(urls[0]).path].price != Decimal("99.99"):
            raise Hint(
                f"your run compared {', '.join(sorted(comparisons))}: the first product is not on sale. "
                'Call `shop.set_price(urls[0], "99.99")`, then run the flow again.'
            )
        raise Hint("the first product is on sale now, but your run was before that: run `my_nike_flow` again.")
    sale = [text for text in receiver.texts() if " 99.99 " in text]
    if not sale:
        raise Hint("your run compared 99.99, but no Slack message has that price: run `my_nike_flow`, which posts one.")
    others = ", ".join(
        f"{name} {state}" for name, state in sorted(comparisons.items()) if name != "compare_price-99.99"
    )
    return f"compare_price-99.99 {comparisons['compare_price-99.99']}, {others}; Slack got {sale[-1]!r}"


@check_for(
    "08",
    hints=[
        "Deploy as `daily` was deployed, with other arguments: `await nike_flow_from_repo.adeploy("
        'name=f"{prefix}-weekend", work_pool_name=pool, schedules=[weekends], ...)`.',
        'Every run\'s defaults go in `parameters={"urls": urls, "budget": 90}`, its labels in '
        '`tags=["workshop", "weekend"]`.',
        "The server schedules a deployment's runs seconds after it exists: `await scheduled_runs(...)` reads them.",
    ],
)
def weekend_deployment_exercise(exercise: Exercise) -> str:
    from zoneinfo import ZoneInfo

    from prefect.client.schemas.schedules import RRuleSchedule

    name, pool = exercise.props["deployment"], exercise.props["pool"]
    deployment = _deployment_named(name)
    if deployment is None:
        raise Hint(f"no deployment {name!r} on the server yet: deploy the capstone on `pool` with `adeploy`.")
    if deployment.updated < exercise.since:
        raise Hint(f"the deployment {name!r} is from before the exercise began: deploy it again.")
    if deployment.work_pool_name != pool:
        raise Hint(f"it is on the work pool {deployment.work_pool_name!r}: deploy it with `work_pool_name=pool`.")
    rules = [schedule.schedule for schedule in deployment.schedules if isinstance(schedule.schedule, RRuleSchedule)]
    if not rules:
        kinds = [type(schedule.schedule).__name__ for schedule in deployment.schedules]
        raise Hint(f"its schedules are {kinds}: the weekend schedule is the RRule `weekends`: `schedules=[weekends]`.")
    rule = rules[0]
    if rule.timezone != "Europe/Paris":
        raise Hint(
            f"its RRule's timezone is {rule.timezone or 'UTC'}, so 10:00 is 10:00 there: "
            '`RRule(..., timezone="Europe/Paris")`, as `weekends` has.'
        )
    if deployment.parameters.get("budget") != 90:
        raise Hint(f"its default budget is {deployment.parameters.get('budget')}: it should be 90.")
    if not {"workshop", "weekend"} <= set(deployment.tags):
        raise Hint(f'its tags are {deployment.tags}: give it `tags=["workshop", "weekend"]`.')
    if deployment.paused:
        raise Hint("it is paused, so the server schedules none of its runs: resume it, or deploy it again.")
    runs = _scheduled_runs(deployment.id)
    if not runs:
        raise Hint("the server has scheduled none of its runs yet: run the check again in a few seconds.")
    paris = [run.expected_start_time.astimezone(ZoneInfo("Europe/Paris")) for run in runs]
    off = [at for at in paris if at.weekday() < 5 or at.strftime("%H:%M") != "10:00"]
    if off:
        raise Hint(
            f"{len(off)} of its {len(runs)} scheduled runs are not at 10:00 on a weekend in Paris (e.g. "
            f"{off[0]:%a %H:%M}): its rule should read 'FREQ=WEEKLY;BYDAY=SA,SU;BYHOUR=10;BYMINUTE=0'."
        )
    return (
        f"deployment {deployment.name!r} on pool {pool!r}, RRule {rule.rrule.splitlines()[-1]!r} in "
        f"{rule.timezone}, budget 90, tags {sorted(deployment.tags)}; the server scheduled {len(runs)} runs, "
        "all at 10:00 on a Saturday or Sunday in Paris"
    )


@check_for(
    "09",
    hints=[
        'A cron expression reads minute, hour, day of month, month, day of week: 07:30 every day is "30 7 * * *".',
        'Each schedule takes a timezone: `Cron("30 7 * * *", timezone="America/New_York")`; every 6 hours is '
        "`Interval(timedelta(hours=6))`.",
        'Register them: `deployment = await nike_flow.ato_deployment(name="seed-schedules", schedules=[...], '
        "paused=True)`, then `await deployment.aapply()`.",
    ],
)
def seed_schedules_exercise(exercise: Exercise) -> str:
    from datetime import timedelta
    from itertools import pairwise
    from zoneinfo import ZoneInfo

    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    from flow_code.kit.notebook_helpers import next_run_times

    name = exercise.props["deployment"]
    deployment = _deployment_named(name)
    if deployment is None:
        raise Hint(f"no deployment {name!r} on the server yet: register it with `ato_deployment` and `aapply`.")
    if deployment.updated < exercise.since:
        raise Hint(f"the deployment {name!r} is from before the exercise began: register it again (`aapply`).")
    schedules = [schedule.schedule for schedule in deployment.schedules]
    crons = [schedule for schedule in schedules if isinstance(schedule, CronSchedule)]
    intervals = [schedule for schedule in schedules if isinstance(schedule, IntervalSchedule)]
    kinds = [type(schedule).__name__ for schedule in schedules]
    if not crons:
        raise Hint(f"its schedules are {kinds}: every day at 07:30 is a `Cron` schedule.")
    if not intervals:
        raise Hint(f"its schedules are {kinds}: every 6 hours is an `Interval` schedule.")
    cron, interval = crons[0], intervals[0]
    if cron.timezone != "America/New_York":
        raise Hint(f'its cron\'s timezone is {cron.timezone or "UTC"}: give Cron `timezone="America/New_York"`.')
    new_york = [at.astimezone(ZoneInfo("America/New_York")) for at in next_run_times(cron, n=8)]
    every_day = all((later.date() - earlier.date()).days == 1 for earlier, later in pairwise(new_york))
    if {at.strftime("%H:%M") for at in new_york} != {"07:30"} or not every_day:
        when = ", ".join(f"{at:%a %H:%M}" for at in new_york[:3])
        raise Hint(
            f"its cron {cron.cron!r} fires at {when}... in New York, not every day at 07:30: a cron reads "
            "minute, hour, day of month, month, day of week."
        )
    if interval.interval != timedelta(hours=6):
        raise Hint(f"its interval is {interval.interval} (a number is seconds): `Interval(timedelta(hours=6))`.")
    if not deployment.paused:
        raise Hint(
            "its schedules are right, but it is not paused: the server schedules runs of it that no process "
            "will run (they turn Late). Register it again with `ato_deployment(..., paused=True)`."
        )
    return (
        f"paused deployment {name!r} on the server with a cron schedule {cron.cron!r} in {cron.timezone} (every "
        f"day at 07:30 New York time) and an interval schedule of {interval.interval}"
    )


@check_for(
    "10",
    hints=[
        "`LocalCluster(n_workers=1, threads_per_worker=1, processes=True, ...)` is a cluster with one thread.",
        "Run the capstone there: `nike_flow.with_options(task_runner=DaskTaskRunner(address=small.scheduler_address))`"
        "`(urls, budget)`.",
        "`get_task_stream(small_client)` records the tasks; `task_times(...)` sums and spans them.",
    ],
)
def one_thread_exercise(exercise: Exercise) -> str:
    from flow_code.kit.notebook_helpers import read_task_runs

    shop = exercise.props["shop"]
    runs = [run for run in _flow_runs_started_since(exercise, CAPSTONE_FLOW) if _on_shop(run, shop)]
    if not runs:
        raise Hint(
            "no run of the capstone on this notebook's shop since the exercise began: run "
            "`nike_flow.with_options(task_runner=DaskTaskRunner(address=...))(urls, budget)` on your small cluster."
        )
    latest = runs[0]
    if not latest.state.is_completed():
        raise _ended_badly(latest, "your run of the capstone")
    pages = [run for run in read_task_runs(latest.id) if run.name.startswith("find_nike_price-")]
    at_once = _most_at_once(pages)
    if at_once > 1 and at_once == len(pages):
        raise Hint(
            f"all {len(pages)} page checks ran at the same time, as on the flow's own ThreadPoolTaskRunner: give "
            "the run `task_runner=DaskTaskRunner(address=small.scheduler_address)`."
        )
    if at_once > 1:
        raise Hint(
            f"up to {at_once} page checks ran at the same time: the cluster had more than one thread. "
            "Start one with `n_workers=1, threads_per_worker=1`, and pass its `scheduler_address`."
        )
    return (
        f"{len(pages)} page checks (find_nike_price), never two at the same time (their start and end times in "
        f"the API); the run ended {latest.state.name}"
    )


# --- notebooks 11-15 ---

DEAL_FOUND = "shoe.deal.found"
SOLD_OUT = "shoe.sold.out"
EVENTS_SETTLE_SECONDS = 8  # the server writes events in batches: every 20 events or every 5 s


def _latest_artifact(key: str, since):
    """The newest artifact with the key `key` created since `since`, or None."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=5
        )
    return next((artifact for artifact in found if artifact.created >= since), None)


def _events_since(since, names: list[str], resource_id: str | None = None, enough=lambda events: bool(events)):
    """Events named `names` (about `resource_id`, if given) since `since`, newest first; waits up to
    EVENTS_SETTLE_SECONDS for `enough(events)`, as the server writes events to its database in batches."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

    from flow_code.kit.processes import wait_until

    events = []
    with get_client(sync_client=True) as client:

        def settled() -> bool:  # a new filter each time: its `occurred.until` is the moment it is made
            wanted = EventFilter(
                occurred=EventOccurredFilter(since=since),
                event=EventNameFilter(name=names),
                resource=EventResourceFilter(id=[resource_id]) if resource_id else None,
            )
            events[:] = client.read_events(filter=wanted, limit=50).events  # the server serves 50 at most
            return enough(events)

        wait_until(settled, EVENTS_SETTLE_SECONDS)
    return events


def _of_run(events: list, flow_run_id) -> list:
    return [event for event in events if f"prefect.flow-run.{flow_run_id}" in {r.id for r in event.related}]


@check_for(
    "11",
    hints=[
        'Publish the table inside an async flow: `await acreate_table_artifact(rows, key=f"{prefix}-deals")`.',
        "A deal is a product in stock (`urls`) whose price is within `budget`: one row each, with `product` and "
        "`price`.",
        f'In the same flow, one `emit_event(event="{DEAL_FOUND}", resource={{"prefect.resource.id": '
        '"shoe.product.<slug>", ...}, payload={"price": ...})` per deal.',
    ],
)
def deals_report_exercise(exercise: Exercise) -> str:
    import json

    shop, budget, prefix = (exercise.props[name] for name in ("shop", "budget", "prefix"))
    key = f"{prefix}-deals"
    deals = sorted(product.slug for product in shop.products.values() if product.in_stock and product.price <= budget)
    table = _latest_artifact(key, exercise.since)
    if table is None:
        _hint_at_a_failed_run(exercise, shop.url, key)
        raise Hint(
            f"no artifact with the key `{key}` since the exercise began: publish it with "
            "`await acreate_table_artifact(rows, key=...)` inside your flow, and run the flow."
        )
    if table.type != "table":
        raise Hint(f"`{key}` is a {table.type} artifact: a table comes from `acreate_table_artifact` (list of dicts).")
    if table.flow_run_id is None:
        raise Hint(f"`{key}` was made outside a flow run: create it inside the flow, so it belongs to the run.")
    rows = json.loads(table.data)
    if len(rows) != len(deals):
        if len(rows) >= len(shop.product_urls()):
            raise Hint(f"your table has a row for every product ({len(rows)}): keep those within {budget} only.")
        raise Hint(f"your table has {len(rows)} rows, but {len(deals)} products in stock are within {budget}.")
    if not all(isinstance(row, dict) and {"product", "price"} <= row.keys() for row in rows):
        raise Hint("each row needs a `product` and a `price` column: make the table a list of dicts with those keys.")
    return _deal_events_evidence(exercise, table, deals)


def _hint_at_a_failed_run(exercise: Exercise, shop_url: str, key: str) -> None:
    """Raise a hint with the error of the learner's latest flow run (one given this shop's URLs), if it failed."""
    runs = [run for run in exercise.flow_runs() if shop_url in str(run.parameters)]
    if not runs or not (runs[0].state.is_failed() or runs[0].state.is_crashed()):
        return
    message = runs[0].state.message or ""
    json_hint = (
        " A table's cells must be JSON values: write a price as `str(offer.price)`, not a Decimal."
        if "JSON serializable" in message
        else ""
    )
    raise Hint(f"no `{key}` yet: your latest flow run ended {runs[0].state.name}: {message.rstrip('.')}.{json_hint}")


def _deal_events_evidence(exercise: Exercise, table, deals: list[str]) -> str:
    events = _events_since(
        exercise.since, [DEAL_FOUND], enough=lambda found: len(_of_run(found, table.flow_run_id)) >= len(deals)
    )
    if not events:
        raise Hint(f"no `{DEAL_FOUND}` event since the exercise began: call `emit_event(...)` in the flow, per deal.")
    of_run = _of_run(events, table.flow_run_id)
    if not of_run:
        raise Hint(f"`{DEAL_FOUND}` events came, but not from the run that published the table: emit them in it.")
    if len(of_run) != len(deals):
        raise Hint(f"the run emitted {len(of_run)} `{DEAL_FOUND}` events for {len(deals)} deals: one per deal.")
    about = sorted(event.resource.id for event in of_run)
    if about != [f"shoe.product.{slug}" for slug in deals]:
        raise Hint(f"the events are about {about}: each is about its product, `shoe.product.<the URL's slug>`.")
    if not all("price" in event.payload for event in of_run):
        raise Hint("put the price in each event's payload, as `price`.")
    return f"the table `{table.key}` has {len(deals)} rows, and its run emitted {len(of_run)} `{DEAL_FOUND}` events"


@check_for(
    "12",
    hints=[
        f'An automation is a trigger and actions: `EventTrigger(expect={{"{SOLD_OUT}"}}, '
        'match={"prefect.resource.id": "shoe.product.*"}, posture=Posture.Reactive, threshold=1)` and '
        "`SendNotification(block_document_id=..., subject=..., body=...)`.",
        "Create the automation first, then emit the event: an automation does not look back at earlier events.",
        "Name the product in the message with a template: `{{ event.resource['prefect.resource.name'] }}`.",
    ],
)
def sold_out_alert_exercise(exercise: Exercise) -> str:
    from prefect.client.orchestration import get_client

    receiver, block_id, prefix, shop = (exercise.props[name] for name in ("receiver", "block_id", "prefix", "shop"))
    name = f"{prefix}: sold out"
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(name)
    if not found:
        raise Hint(f"no automation named `{name}` on the server yet: create it with `await Automation(...).acreate()`.")
    automation = found[0]
    _check_sold_out_automation(automation, block_id)
    product = next(product.name for product in shop.products.values() if not product.in_stock)
    alert = []

    def alerted() -> bool:
        alert[:] = [text for text in receiver.texts() if product in text]
        return bool(alert)

    from flow_code.kit.processes import wait_until

    if wait_until(alerted, 5):
        return f"the server sent {alert[-1]!r}"
    raise Hint(_why_no_sold_out_alert(exercise, automation, product))


def _check_sold_out_automation(automation, block_id) -> None:
    trigger = automation.trigger
    expect = sorted(getattr(trigger, "expect", None) or [])
    if SOLD_OUT not in expect:
        raise Hint(f"your automation expects {expect}: the event is called `{SOLD_OUT}`.")
    if trigger.posture != "Reactive":
        raise Hint(f"its trigger is {trigger.posture.value}: it fires when events do NOT come; use Posture.Reactive.")
    notifications = [action for action in automation.actions if action.type == "send-notification"]
    if not notifications:
        raise Hint("it has no `SendNotification(block_document_id=..., subject=..., body=...)` action.")
    if notifications[0].block_document_id != block_id:
        raise Hint("it notifies through another block: pass `block_document_id=block_id`, the receiver's block.")


def _why_no_sold_out_alert(exercise: Exercise, automation, product: str) -> str:
    events = _events_since(exercise.since, [SOLD_OUT])
    if not events:
        return f"no `{SOLD_OUT}` event since the exercise began: emit one from a flow, after creating the automation."
    reactions = _events_since(
        exercise.since,
        ["prefect.automation.triggered", "prefect.automation.action.failed"],
        resource_id=f"prefect.automation.{automation.id}",
    )
    failed = [event for event in reactions if event.event.endswith(".failed")]
    if failed:
        return f"the automation fired, but sending failed: {failed[0].payload.get('reason')}"
    if not reactions:
        return (
            f"the automation did not fire: it was made after your event (it does not look back: emit again), or its "
            f"match {automation.trigger.match.model_dump()} does not fit the event's resource {events[0].resource.id}."
        )
    return f"the automation fired, but the message does not name {product!r}: template the product's name in the body."


# notebook 13 (resilience) and 14 (a human in the loop)


def _runs_this_notebook_started(exercise: Exercise, flow_name: str | None = None) -> list:
    """Flow runs made since the exercise began whose ids the notebook's `on_running` hook collected in the
    list `exercise.props["started"]`, newest first: this kernel's runs, not those of another kernel on
    the same server."""
    started = set(exercise.props["started"])
    return [run for run in exercise.flow_runs(flow_name) if run.id in started]


def _task_runs_by_task(flow_run_id, rolled_back: str, seconds: float = 3) -> dict[str, list]:
    """The flow run's task runs by task name; waits up to `seconds` for the task `rolled_back` to show
    RolledBack (a state that reaches the server a moment after the task run's Completed)."""
    from flow_code.kit.notebook_helpers import read_task_runs
    from flow_code.kit.processes import wait_until

    by_task: dict[str, list] = {}

    def settled() -> bool:
        by_task.clear()
        for run in read_task_runs(flow_run_id):
            by_task.setdefault(run.name.rsplit("-", 1)[0], []).append(run)
        return any(run.state.name == "RolledBack" for run in by_task.get(rolled_back, []))

    wait_until(settled, seconds)
    return by_task


@check_for(
    "13",
    hints=[
        "Call both tasks inside one `with transaction():` block in the flow: `hold_shoe` first, then "
        "`confirm_payment`.",
        "`@task(timeout_seconds=0.5)` on `confirm_payment`, whose body sleeps 1 s: the run ends TimedOut.",
        "The undo is a function decorated with `@hold_shoe.on_rollback`; it gets the transaction, and "
        "`txn.get(...)` reads what the flow stored with `txn.set(...)`.",
    ],
)
def transaction_exercise(exercise: Exercise) -> str:
    from pathlib import Path

    runs = _runs_this_notebook_started(exercise)
    if not runs:
        raise Hint(
            "no flow run of yours since the exercise began: write the two tasks and a flow with "
            "`on_running=[note_start]` (the check finds your runs through it), then run the flow."
        )
    tasks = _task_runs_by_task(runs[0].id, rolled_back="hold_shoe")
    holds, payments = tasks.get("hold_shoe", []), tasks.get("confirm_payment", [])
    if not holds and payments:
        raise Hint(
            "`confirm_payment` ran but `hold_shoe` never did: call `hold_shoe` first (a task call that fails "
            "raises, so nothing after it in the block runs)."
        )
    if not holds:
        raise Hint(f"your latest flow run ran no task called `hold_shoe`: its tasks were {sorted(tasks) or 'none'}.")
    if not payments:
        raise Hint("`hold_shoe` ran, but no task called `confirm_payment` did: call it after `hold_shoe`, in the flow.")
    payment, hold = payments[-1], holds[-1]
    if payment.state.name != "TimedOut":
        raise Hint(
            f"`confirm_payment` ended {payment.state.name}, not TimedOut: give it `timeout_seconds=0.5` and let "
            "its body take 1 s (`time.sleep(1)`), so the bank is too slow."
        )
    path = Path(exercise.props["holds"])
    left = [line for line in path.read_text().splitlines() if line.startswith("held ")] if path.exists() else []
    if hold.state.name != "RolledBack" and path.exists() and not left:  # the undo ran: RolledBack is on its way
        hold = _task_runs_by_task(runs[0].id, rolled_back="hold_shoe", seconds=10)["hold_shoe"][-1]
    if hold.state.name != "RolledBack":
        raise Hint(
            f"`hold_shoe` ended {hold.state.name}, not RolledBack: call both tasks inside one `with transaction():` "
            "block, so the payment's failure rolls the hold back."
        )
    if left:
        raise Hint(
            f"`hold_shoe` rolled back, but the holds file still has {left}: remove the line in a function "
            "decorated with `@hold_shoe.on_rollback`."
        )
    return (
        f"hold_shoe {hold.state.name}, confirm_payment {payment.state.name} ({payment.state.message}), "
        "no hold left in the file"
    )


def _pauses(flow_run) -> list:
    """The Paused states in a flow run's history, oldest first."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [state for state in client.read_flow_run_states(flow_run.id) if state.is_paused()]


def _answer(flow_run, pause) -> dict | None:
    """The input a paused run was resumed with, or None if it got none."""
    import json

    import httpx
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            return json.loads(client.read_flow_run_input(flow_run.id, pause.state_details.run_input_keyset["response"]))
        except httpx.HTTPStatusError as error:
            if error.response.status_code == 404:
                return None
            raise


@check_for(
    "14",
    hints=[
        "In the async flow: `answer = await apause_flow_run(wait_for_input=ShoeSize, timeout=60, poll_interval=1)`, "
        'then `return f"size {answer.size}"`.',
        "A flow that pauses must run in the background (`asyncio.create_task(...)`), or the cell waits for it "
        "and you cannot resume it from the notebook.",
        'Resume it with `await aresume_flow_run(run_id, run_input={"size": 10.5})`, or with the form on its page.',
    ],
)
def paused_run_exercise(exercise: Exercise) -> str:
    runs = _runs_this_notebook_started(exercise, "choose-size")
    if not runs:
        raise Hint(
            "no run of a flow called `choose-size` since the exercise began: write `async def choose_size()` "
            "with `@flow(on_running=[note_start])` (the check finds your runs through it), and start it with "
            "`start_until_paused(...)`."
        )
    run = runs[0]
    pauses = _pauses(run)
    if not pauses:
        raise Hint(
            f"your run is {run.state.name} and never paused: call `await apause_flow_run(wait_for_input=ShoeSize, "
            "timeout=60)` inside the flow."
        )
    keyset = pauses[-1].state_details.run_input_keyset
    if not keyset:
        raise Hint("your run paused without asking for input: pass `wait_for_input=ShoeSize` to `apause_flow_run`.")
    if run.state.is_paused():
        raise Hint(
            'your run is Paused, waiting for an answer: `await aresume_flow_run(run_id, run_input={"size": 10.5})`, '
            "or Resume on its page in the UI."
        )
    if "never resumed" in (run.state.message or ""):
        raise Hint(
            f"nobody answered in time: the run ended {run.state.name} ({run.state.message}). Start it again and "
            "resume it within its timeout."
        )
    if not run.state.is_completed():
        raise Hint(f"your run is {run.state.name}: {run.state.message}")
    answer = _answer(run, pauses[-1])
    if not answer or answer.get("size") != 10.5:
        raise Hint(f"your run was resumed with {answer}: the exercise asks for size 10.5.")
    return f"the run paused, was resumed with {answer} and ended {run.state.name}"


# 15 · a test of the capstone's retries: `find_nike_price` called with return_state=True on a page that
# fails its first requests. The learner's call is outside any flow: the capstone's own runs (in flows,
# made by other notebooks and tests on the same server) are left out by `flow_run_id` being null.


def _task_runs_outside_flows(exercise: Exercise, name: str, run_count: int | None, settle_seconds: float = 20) -> list:
    """Task runs named `name` made outside any flow since the exercise began, ended after `run_count` attempts
    (None: any number), newest first; waits up to `settle_seconds` for one (a task run's final state reaches
    the API a moment later)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId, TaskRunFilterName
    from prefect.client.schemas.sorting import TaskRunSort

    from flow_code.kit.processes import wait_until

    outside_flows = TaskRunFilter(
        name=TaskRunFilterName(any_=[name]), flow_run_id=TaskRunFilterFlowRunId(is_null_=True)
    )
    runs = []
    with get_client(sync_client=True) as client:

        def settled() -> bool:
            found = client.read_task_runs(
                task_run_filter=outside_flows, sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=50
            )
            runs[:] = [
                run
                for run in found
                if run.created >= exercise.since
                and run_count in (None, run.run_count)
                and run.state
                and run.state.is_final()
            ]
            return bool(runs)

        wait_until(settled, settle_seconds)
    return runs


@check_for(
    "15",
    hints=[
        "Call the task itself, not `.fn`: `state = find_nike_price.with_options(retry_delay_seconds=0)(revolution, "
        "return_state=True)`.",
        "Right before the call: `shop.reset()` (it forgets the counts and sets fail_first back to 0), then "
        "`shop.fail_first = page_failures`.",
        'Assert on the state: `state.is_completed()`, `(await state.aresult()).price == Decimal("70.00")`, '
        "`shop.requests_for(revolution) == page_failures + 1`.",
    ],
)
def retries_test_exercise(exercise: Exercise) -> str:
    from flow_code.nike_flow import page_name

    shop, url, failures = exercise.props["shop"], exercise.props["url"], exercise.props["fail_first"]
    name = f"find_nike_price-{page_name(url)}"
    requests = shop.requests_for(url)
    if requests == 0:
        raise Hint(
            f"the page got no request since the shop was last reset: `shop.reset()`, `shop.fail_first = {failures}`, "
            "then call the task `find_nike_price` on it with `return_state=True`."
        )
    mine = _task_runs_outside_flows(exercise, name, run_count=requests)  # the page's requests are its attempts
    if not mine:
        earlier = _task_runs_outside_flows(exercise, name, run_count=None, settle_seconds=0.5)
        if earlier:
            raise Hint(
                f"the page got {requests} requests, but your latest task run `{name}` made {earlier[0].run_count} "
                "attempt(s): the count includes your earlier calls. Put `shop.reset()` and "
                f"`shop.fail_first = {failures}` right before the call, in the same cell, and run it again."
            )
        raise Hint(
            f"the page got {requests} request(s), but no task run `{name}` made them: `.fn()` runs the plain "
            "function, without Prefect (no task run, no retries); call the task itself with `return_state=True`."
        )
    run = mine[0]
    if not run.state.is_completed():
        raise Hint(
            f"your task run gave up: {run.state.name} after {run.run_count} attempt(s) ({run.state.message}). "
            "Keep the capstone's retries (3) and change only the delay: `.with_options(retry_delay_seconds=0)`."
        )
    if run.run_count == 1:
        raise Hint(
            f"your task run passed at its first attempt: the page did not fail, so nothing was retried. Set "
            f"`shop.fail_first = {failures}` after `shop.reset()` and before the call."
        )
    if run.run_count != failures + 1:
        raise Hint(
            f"your task run made {run.run_count} attempts; with `shop.fail_first = {failures}` it makes "
            f"{failures + 1}: set fail_first to {failures} after `shop.reset()`."
        )
    return (
        f"task run {name}: {run.state.name} after {run.run_count} attempts; the page got {requests} requests, "
        f"the first {failures} answered 503"
    )
