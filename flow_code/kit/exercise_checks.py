"""The course's exercise checks, one per notebook: each reads the learner's runs, the shop or the receiver.

Each check returns the evidence of a pass or raises `Hint` with one specific hint about what is off.
Registered by notebook number; `exercises.for_notebook("NN", ...)` finds them.
"""

from __future__ import annotations

from flow_code.kit.exercises import Exercise, Hint, check_for

# --- notebooks 00-05 ---


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
    runs = exercise.task_runs("patient_fetch_price")
    if not runs:
        raise Hint(
            "no run of a task called `patient_fetch_price` yet: define it with `@task`, call it from a flow "
            "and run that flow."
        )
    latest = runs[0]
    if len(runs) > 1 and all(run.run_count == 1 for run in runs) and not latest.state.is_completed():
        raise Hint(f"{len(runs)} task runs, each ran once: did you set retries on the flow instead of the task?")
    if latest.run_count == 1 and not latest.state.is_completed():
        raise Hint("your task ran once and failed: it has no retries (or its retry_condition_fn said no).")
    if not latest.state.is_completed():
        raise Hint(
            f"it gave up after {latest.run_count} attempts ({latest.state.name}): the shop fails 4 times, "
            "so the task needs 5 retries to be safe."
        )
    return (
        f"{latest.run_count} attempts, the page got {shop.requests_for(url)} requests, final state {latest.state.name}"
    )


# --- notebooks 06-10 ---

# --- notebooks 11-15 ---
