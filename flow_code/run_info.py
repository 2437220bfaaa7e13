"""Read runs back from the Prefect API: what the UI shows, as Python values."""

from __future__ import annotations

import time
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.client.schemas.sorting import TaskRunSort
from prefect.states import State


def flow_run_id(state_or_id: State | UUID | str) -> UUID:
    """The flow run id of a state returned by `my_flow(..., return_state=True)`, or an id."""
    if isinstance(state_or_id, State):
        return state_or_id.state_details.flow_run_id
    return UUID(str(state_or_id))


def read_flow_run(state_or_id: State | UUID | str) -> FlowRun:
    """The flow run as the API has it (name, final state, message, parameters...)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id(state_or_id))


def read_task_runs(state_or_id: State | UUID | str, settle_seconds: float = 10) -> list[TaskRun]:
    """The task runs of a flow run, oldest first, once each has its final state.

    A task's last state reaches the server a moment after the flow returns (on a busy machine, up to
    seconds later): this waits up to `settle_seconds` for it.
    """
    flow_run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state_or_id)]))
    deadline = time.monotonic() + settle_seconds
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flow_run_filter, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
            if all(run.state and run.state.is_final() for run in runs) or time.monotonic() > deadline:
                return runs
            time.sleep(0.1)


def task_run_states(state_or_id: State | UUID | str, prefix: str = "") -> dict[str, str]:
    """`{task run name: final state name}` for the flow run's task runs whose name starts with `prefix`."""
    return {run.name: run.state.name for run in read_task_runs(state_or_id) if run.name.startswith(prefix)}
