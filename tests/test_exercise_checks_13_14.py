"""The exercise checks of notebooks 13 and 14, on the session's Prefect server: an empty attempt and a
plausible wrong one each get a hint (never an exception), and the notebook's solution passes."""

import asyncio
import time
from pathlib import Path

import pytest
from prefect import apause_flow_run, aresume_flow_run, flow, task
from prefect.client.orchestration import get_client
from prefect.input import RunInput, aread_flow_run_input
from prefect.transactions import transaction

from flow_code.kit import exercises

pytestmark = pytest.mark.usefixtures("prefect_api")


started = []  # ids of the flow runs these tests started: the checks read only those, as in the notebooks


def note_start(flow, flow_run, state):
    if flow_run.id not in started:
        started.append(flow_run.id)


def checked(exercise, capsys) -> tuple[bool, str]:
    """What `exercise.check()` returned and printed."""
    capsys.readouterr()
    passed = exercise.check()
    return passed, capsys.readouterr().out


# --- 13: a hold rolled back when the payment times out ------------------------------------------


def shop_counter(holds: Path):
    """The exercise's tasks writing to `holds`: (hold_shoe, confirm_payment)."""

    @task
    def hold_shoe(product: str) -> None:
        with holds.open("a") as file:
            file.write(f"held {product}\n")

    @hold_shoe.on_rollback
    def release_hold(txn):
        product = txn.get("product")
        kept = [line for line in holds.read_text().splitlines() if line != f"held {product}"]
        holds.write_text("".join(f"{line}\n" for line in kept))

    @task(timeout_seconds=0.5)
    def confirm_payment(product: str) -> str:
        time.sleep(1)
        return f"paid for {product}"

    return hold_shoe, confirm_payment


def test_13_an_empty_attempt_gets_a_hint(tmp_path, capsys):
    exercise = exercises.for_notebook("13", holds=tmp_path / "holds.txt", started=started)
    passed, said = checked(exercise, capsys)
    assert not passed
    assert said.startswith("Not yet: no flow run of yours since the exercise began")


def test_13_the_tasks_outside_a_transaction_get_the_transaction_hint(tmp_path, capsys):
    holds = tmp_path / "holds.txt"
    exercise = exercises.for_notebook("13", holds=holds, started=started)
    hold_shoe, confirm_payment = shop_counter(holds)

    @flow(on_running=[note_start])
    def hold_then_pay(product: str) -> str:  # no transaction: nothing rolls the hold back
        hold_shoe(product)
        return confirm_payment(product)

    assert hold_then_pay("pegasus", return_state=True).is_failed()
    passed, said = checked(exercise, capsys)
    assert not passed
    assert "`hold_shoe` ended Completed, not RolledBack" in said and "with transaction()" in said
    assert holds.read_text() == "held pegasus\n"


def test_13_the_solution_passes(tmp_path, capsys):
    holds = tmp_path / "holds.txt"
    exercise = exercises.for_notebook("13", holds=holds, started=started)
    hold_shoe, confirm_payment = shop_counter(holds)

    @flow(on_running=[note_start])
    def hold_then_pay(product: str) -> str:
        with transaction() as txn:
            txn.set("product", product)
            hold_shoe(product)
            return confirm_payment(product)

    assert hold_then_pay("pegasus", return_state=True).name == "TimedOut"
    passed, said = checked(exercise, capsys)
    assert passed, said
    assert "hold_shoe RolledBack, confirm_payment TimedOut" in said
    assert holds.read_text() == ""


# --- 14: a run paused for a shoe size ---------------------------------------------------------------


class ShoeSize(RunInput):
    size: float


@flow(on_running=[note_start])
async def choose_size() -> str:
    answer = await apause_flow_run(wait_for_input=ShoeSize, timeout=60, poll_interval=1)
    return f"size {answer.size}"


async def paused_choose_size():
    """A run of `choose_size` in the background, and its id once the API shows it Paused."""
    before = len(started)
    background = asyncio.create_task(choose_size(return_state=True))
    async with get_client() as client:
        for _ in range(300):
            await asyncio.sleep(0.1)
            if len(started) > before and (run := await client.read_flow_run(started[before])).state.is_paused():
                keys = run.state.state_details.run_input_keyset  # the schema is saved just after Paused
                if await aread_flow_run_input(keys["schema"], flow_run_id=run.id) is not None:
                    return background, run.id
    raise TimeoutError("choose_size did not pause within 30 s")


def test_14_an_empty_attempt_gets_a_hint(capsys):
    exercise = exercises.for_notebook("14", started=started)
    passed, said = checked(exercise, capsys)
    assert not passed
    assert said.startswith("Not yet: no run of a flow called `choose-size`")


def test_14_a_run_left_paused_then_answered_wrong_gets_its_hints(capsys):
    exercise = exercises.for_notebook("14", started=started)

    async def attempt():
        background, run_id = await paused_choose_size()
        waiting = checked(exercise, capsys)  # forgot to resume it
        await aresume_flow_run(run_id, run_input={"size": 9})
        await background
        return waiting, checked(exercise, capsys)  # resumed with another size

    (passed_while_paused, while_paused), (passed_after, after) = asyncio.run(attempt())
    assert not passed_while_paused and "your run is Paused, waiting for an answer" in while_paused
    assert not passed_after and "resumed with {'size': 9}: the exercise asks for size 10.5" in after


def test_14_the_solution_passes(capsys):
    exercise = exercises.for_notebook("14", started=started)

    async def solution():
        background, run_id = await paused_choose_size()
        await aresume_flow_run(run_id, run_input={"size": 10.5})
        return await (await background).aresult()

    assert asyncio.run(solution()) == "size 10.5"
    passed, said = checked(exercise, capsys)
    assert passed, said
