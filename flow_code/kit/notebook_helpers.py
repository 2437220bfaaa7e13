"""Small helpers the notebooks and tests share: a set-up check, a stopwatch, runs read back, schedule times.

What a notebook teaches it writes in its own cells; these are the props around a lesson.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from importlib.metadata import version
from uuid import UUID

from flow_code.kit.doctor import server_log_tail, wait_for_starting_server
from flow_code.kit.processes import wait_until

PINNED = {"prefect": "3.9.1", "prefect-slack": "0.4.0"}


def check_environment() -> dict[str, str]:
    """Python and package versions, and where flows will report to; raises if a pin is off."""
    from prefect.settings import PREFECT_API_URL

    found = {"python": sys.version.split()[0]}
    for package, pinned in PINNED.items():
        found[package] = version(package)
        if found[package] != pinned:
            raise RuntimeError(f"{package} {found[package]} is installed, the course is written for {pinned}")
    api_url = PREFECT_API_URL.value()
    if not api_url:
        found["prefect api"] = "none set: each Python process starts a temporary server"
    elif wait_for_starting_server(api_url):  # right after a launch the server needs 10-20 s
        found["prefect api"] = f"{api_url} (answering)"
    else:
        raise RuntimeError(
            f"PREFECT_API_URL is {api_url} but nothing answers there: `make lab` starts a server; "
            f"`make doctor` says more{server_log_tail()}"
        )
    return found


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.seconds = 0.0
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self._started

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s"


def most_in_one_second(times: list[float]) -> int:
    """The most of `times` (seconds, e.g. the demo shop's request times) in any closed 1-second window."""
    times, most, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while at - times[first] > 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def flow_run_id(state_or_id) -> UUID:
    """The flow run id of a state returned by `my_flow(..., return_state=True)`, or an id."""
    from prefect.states import State

    if isinstance(state_or_id, State):
        return state_or_id.state_details.flow_run_id
    return UUID(str(state_or_id))


def read_flow_run(state_or_id):
    """The flow run as the API has it (name, final state, message, parameters...)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id(state_or_id))


def read_task_runs(state_or_id, settle_seconds: float = 10) -> list:
    """The task runs of a flow run, oldest first, once each has its final state.

    A task's last state reaches the server a moment after the flow returns (on a busy machine, up to
    seconds later): this waits up to `settle_seconds` for it.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    flow_run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state_or_id)]))
    runs = []
    with get_client(sync_client=True) as client:

        def settled() -> bool:
            runs[:] = client.read_task_runs(flow_run_filter=flow_run_filter, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
            return all(run.state and run.state.is_final() for run in runs)

        wait_until(settled, settle_seconds)
    return runs


def task_run_states(state_or_id, prefix: str = "") -> dict[str, str]:
    """`{task run name: final state name}` for the flow run's task runs whose name starts with `prefix`."""
    return {run.name: run.state.name for run in read_task_runs(state_or_id) if run.name.startswith(prefix)}


def next_run_times(schedule, n: int = 3, start: datetime | None = None) -> list[datetime]:
    """The next `n` times `schedule` (as read from the API) fires after `start` (default: now)."""
    from prefect.server.schemas import schedules as server_schedules
    from prefect.utilities.asyncutils import run_coro_as_sync

    server_type = getattr(server_schedules, type(schedule).__name__)
    as_server = server_type.model_validate(schedule.model_dump(exclude_unset=True))
    return list(run_coro_as_sync(as_server.get_dates(n=n, start=start)))


if __name__ == "__main__":
    for name, value in check_environment().items():
        print(f"{name:>14}: {value}")
