"""The automation "Shoe price dropped": on each `shoe.price.dropped` event the Prefect server itself
sends a Slack message (through the SlackWebhook block `shoe-alerts`) naming the product and both prices.

    python -m flow_code.nike_flow automations     # on the server PREFECT_API_URL points at; run it twice: one

Automations run on the server (its triggers and actions services), not in the flow: the alert comes
even when the run that saw the drop has ended.
"""

from __future__ import annotations

from prefect.automations import Automation, AutomationCore, EventTrigger, Posture
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.exceptions import ObjectNotFound
from prefect_slack import SlackWebhook

from flow_code.observe import PRICE_DROPPED

AUTOMATION_NAME = "Shoe price dropped"
ALERT = (
    "{{ event.resource['prefect.resource.name'] }}: now {{ event.payload.price }} {{ event.payload.currency }}, "
    "was {{ event.payload.previous_price }}. {{ event.payload.url }}"
)


def price_drop_automation(block_document_id) -> AutomationCore:
    """The automation: every `shoe.price.dropped` event (reactive, one at a time) sends a notification."""
    return AutomationCore(
        name=AUTOMATION_NAME,
        description="Tell Slack when the capstone sees a price lower than the previous one",
        trigger=EventTrigger(
            expect={PRICE_DROPPED},
            match={"prefect.resource.id": "shoe.product.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=AUTOMATION_NAME, body=ALERT)],
    )


def install_price_drop_automation(block_name: str = "shoe-alerts") -> tuple[Automation, bool]:
    """Create the automation unless one of that name exists; (the automation, whether it was created)."""
    with get_client(sync_client=True) as client:
        try:
            block = client.read_block_document_by_name(block_name, SlackWebhook.get_block_type_slug())
        except ObjectNotFound:
            raise ValueError(
                f"no SlackWebhook block named {block_name!r} on this server: save one first, e.g. "
                f"SlackWebhook(url=...).save({block_name!r}) (notebook 06)"
            ) from None
        existing = client.read_automations_by_name(AUTOMATION_NAME)
        if existing:
            return existing[0], False
        client.create_automation(price_drop_automation(block.id))
        return client.read_automations_by_name(AUTOMATION_NAME)[0], True


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m flow_code.nike_flow automations",
        description=f"Install the automation {AUTOMATION_NAME!r} on the Prefect server (PREFECT_API_URL).",
    )
    parser.add_argument("--block", default="shoe-alerts", help="the SlackWebhook block it sends through")
    args = parser.parse_args(argv)
    try:
        automation, created = install_price_drop_automation(args.block)
    except ValueError as error:
        print(error)
        return 1
    print(f"{'Created' if created else 'Found'} the automation {AUTOMATION_NAME!r} ({automation.id}).")
    return 0
