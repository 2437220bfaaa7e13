"""Exercises that check themselves: each check reads what the learner's runs did, never their source.

In a notebook, before the exercise: `exercise = exercises.for_notebook("02", shop=shop)`; after the
learner's cell: `exercise.check()` prints a pass with the measured evidence ("3 requests, Completed") or
one hint about what is off; `exercise.hint()` gives the next hint each time it is called. A check never
raises: an empty attempt gets a hint. Evidence comes from Prefect's API (runs made since the exercise
began), the demo shop's request counts and the Slack receiver's messages.

A check is a function `check(exercise) -> str` registered with `@check_for("NN", hints=[...])`: it returns
the evidence of a pass or raises `Hint("what is off")`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

CHECKS: dict[str, tuple[Callable[[Exercise], str], list[str]]] = {}


class Hint(Exception):
    """What is off in an attempt, said as a hint to the learner."""


def check_for(notebook: str, hints: list[str]):
    """Register `check` as the exercise check of notebook `notebook` ("02"), with its general hints."""

    def register(check: Callable[[Exercise], str]):
        CHECKS[notebook] = (check, hints)
        return check

    return register


@dataclass
class Exercise:
    """One exercise: `check()` inspects the runs made since it was created, `hint()` nudges."""

    notebook: str
    props: dict = field(default_factory=dict)
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    hints_shown: int = 0

    def check(self) -> bool:
        """Print "Correct" with the evidence, or one hint; True when the attempt passes."""
        check, _ = CHECKS[self.notebook]
        try:
            evidence = check(self)
        except Hint as hint:
            print(f"Not yet: {hint}")
            return False
        except Exception as error:  # a check must not break the notebook: say what it could not read
            print(f"Not yet: the check could not read your runs ({type(error).__name__}: {error}).")
            return False
        print(f"Correct: {evidence}")
        return True

    def hint(self) -> None:
        """The next general hint (the solution is the collapsed cell below the exercise)."""
        _, hints = CHECKS[self.notebook]
        print(f"Hint {self.hints_shown % len(hints) + 1} of {len(hints)}: {hints[self.hints_shown % len(hints)]}")
        self.hints_shown += 1

    # Readers the checks share: runs created since the exercise began, newest first.

    def task_runs(self, task_name: str, settle_seconds: float = 10) -> list:
        """Task runs of the task `task_name` created since the exercise began, once each has a final state.

        A task's last state reaches the server a moment after its flow returns: this waits up to
        `settle_seconds` for it.
        """
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
        from prefect.client.schemas.sorting import TaskRunSort

        from flow_code.kit.processes import wait_until

        runs_named = TaskRunFilter(name=TaskRunFilterName(like_=f"{task_name}-"))
        newest_first = TaskRunSort.EXPECTED_START_TIME_DESC
        runs = []
        with get_client(sync_client=True) as client:

            def settled() -> bool:
                found = client.read_task_runs(task_run_filter=runs_named, sort=newest_first, limit=50)
                runs[:] = [run for run in found if run.created >= self.since and _task_of(run) == task_name]
                return all(run.state and run.state.is_final() for run in runs)

            wait_until(settled, settle_seconds)
        return runs

    def flow_runs(self, flow_name: str | None = None) -> list:
        """Flow runs (of the flow called `flow_name`, if given) created since the exercise began, newest first.

        Runs due later (a deployment's schedule) are left out: they would crowd out the learner's own.
        """
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
        )
        from prefect.client.schemas.sorting import FlowRunSort

        flow_filter = FlowFilter(name=FlowFilterName(any_=[flow_name])) if flow_name else None
        since_then = FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=self.since, before_=datetime.now(UTC))
        )
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=flow_filter, flow_run_filter=since_then, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=50
            )
        return [run for run in runs if run.created >= self.since]


def for_notebook(notebook: str, **props) -> Exercise:
    """The exercise of notebook `notebook` ("02"); `props` are what its check reads (shop=..., receiver=...)."""
    from flow_code.kit import exercise_checks  # noqa: F401  (registers the checks)

    if notebook not in CHECKS:
        raise KeyError(f"no exercise check for notebook {notebook!r}; there are checks for {sorted(CHECKS)}")
    return Exercise(notebook, props)


def _task_of(task_run) -> str:
    """The task a task run belongs to: its generated name is the task's name and three hex digits."""
    return task_run.name.rsplit("-", 1)[0]
