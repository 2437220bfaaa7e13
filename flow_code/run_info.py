"""Read runs back from the Prefect API: what the UI shows, as Python values."""

from __future__ import annotations

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


def read_task_runs(state_or_id: State | UUID | str) -> list[TaskRun]:
    """The task runs of a flow run, oldest first."""
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state_or_id)])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )


def task_run_states(state_or_id: State | UUID | str, prefix: str = "") -> dict[str, str]:
    """`{task run name: final state name}` for the flow run's task runs whose name starts with `prefix`."""
    return {run.name: run.state.name for run in read_task_runs(state_or_id) if run.name.startswith(prefix)}
