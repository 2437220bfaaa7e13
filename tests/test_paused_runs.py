"""Paused flow runs on the session's Prefect server: resumed with input, or timed out without it.

Notebook 14 teaches both; these tests read each outcome back from the API. The flow runs in the test's
event loop, in the background, as in the notebook, while the test answers it through the API.
"""

import asyncio

import pytest
from prefect import apause_flow_run, aresume_flow_run, flow
from prefect.client.orchestration import get_client
from prefect.input import RunInput, aread_flow_run_input

pytestmark = pytest.mark.usefixtures("prefect_api")

started = []  # ids of the runs of `buy_if_approved`, in the order they started


class Approval(RunInput):
    approve: bool
    max_price: int
    note: str = ""


def note_start(flow, flow_run, state):
    if flow_run.id not in started:  # a resumed run enters Running again
        started.append(flow_run.id)


@flow(on_running=[note_start])
async def buy_if_approved(price: int, timeout: int) -> str:
    answer = await apause_flow_run(wait_for_input=Approval, timeout=timeout, poll_interval=1)
    if answer.approve and price <= answer.max_price:
        return f"bought at {price} ({answer.note})"
    return f"not bought at {price} ({answer.note})"


async def start_until_paused(price: int, timeout: int):
    """The background run of `buy_if_approved` and its flow run, once Paused with its question saved (the
    flow saves the schema just after the run is Paused; an answer sent before is refused)."""
    before = len(started)
    background = asyncio.create_task(buy_if_approved(price, timeout, return_state=True))
    async with get_client() as client:
        for _ in range(300):
            await asyncio.sleep(0.1)
            assert not background.done(), f"the run ended without pausing: {background.result()}"
            if len(started) > before:
                run = await client.read_flow_run(started[before])
                if run.state.is_paused() and await question_saved(run):
                    return background, run
    raise TimeoutError("the run did not pause within 30 s")


async def question_saved(run) -> bool:
    keys = run.state.state_details.run_input_keyset
    return await aread_flow_run_input(keys["schema"], flow_run_id=run.id) is not None


async def answered(price: int, answer: dict):
    """Pause a run, resume it with `answer`; its result, its final state and its states, from the API."""
    background, paused = await start_until_paused(price, timeout=60)
    await aresume_flow_run(paused.id, run_input=answer)
    result = await (await background).aresult()
    async with get_client() as client:
        run = await client.read_flow_run(paused.id)
        history = [state.name for state in await client.read_flow_run_states(paused.id)]
    return result, run.state.name, history


def test_a_paused_run_resumes_with_the_answer_it_was_given():
    result, final_state, history = asyncio.run(answered(160, {"approve": True, "max_price": 170, "note": "a present"}))
    assert result == "bought at 160 (a present)"  # approved, and within the approved price
    assert final_state == "Completed"
    assert history == ["Pending", "Running", "Paused", "Running", "Completed"]


async def refused_then_answered() -> tuple[str, str, str]:
    background, paused = await start_until_paused(160, timeout=60)
    with pytest.raises(RuntimeError) as refused:
        await aresume_flow_run(paused.id, run_input={"approve": "maybe", "max_price": 170})
    async with get_client() as client:
        still = (await client.read_flow_run(paused.id)).state.name
    await aresume_flow_run(paused.id, run_input={"approve": False, "max_price": 170, "note": "no"})
    return str(refused.value), still, await (await background).aresult()


def test_an_answer_that_does_not_fit_the_model_is_refused_and_the_run_stays_paused():
    refused, still, result = asyncio.run(refused_then_answered())
    assert "'maybe' is not of type 'boolean'" in refused
    assert still == "Paused"
    assert result == "not bought at 160 (no)"  # the answer given after the refusal: not approved


async def unanswered(timeout: int):
    local = await buy_if_approved(160, timeout, return_state=True)  # nobody will answer: await it here
    async with get_client() as client:
        run = await client.read_flow_run(local.state_details.flow_run_id)
        history = [state.name for state in await client.read_flow_run_states(run.id)]
    return local, run.state, history


NEVER_RESUMED = {
    # the flow gave up first: the server, the pause having expired, replaced its Failed with its own
    "The flow was failed and never resumed.",
    # the server's pause-expiration service (every 5 s) failed the run first; the flow's Failed came after
    "Flow run encountered an exception: FlowPauseTimeout: Flow run was paused and never resumed.",
}


def test_a_paused_run_that_nobody_answers_fails_at_its_timeout():
    local, final, history = asyncio.run(unanswered(timeout=1))
    assert (final.type.value, final.name) == ("FAILED", "Failed")
    assert final.message in NEVER_RESUMED
    assert local.message == final.message  # what the flow call returned is what the API keeps
    assert history[:3] == ["Pending", "Running", "Paused"]
    assert set(history[3:]) == {"Failed"}
