"""Where Slack alerts go: `SLACK_WEBHOOK_URL`, else a saved `SlackWebhook` block, else nowhere.

A webhook URL is a secret: anyone who has it can post to your channel. It is never a flow
parameter (parameters are stored and shown in the UI), never in a notebook and never in an error
message: `post_message` reports failures without the URL.
"""

from __future__ import annotations

import os

from prefect_slack import SlackWebhook

WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
SLACK_TIMEOUT_SECONDS = 10.0


class SlackError(Exception):
    """Slack did not take the message (no answer in time, or an HTTP error)."""


def find_slack_webhook(block_name: str | None = None) -> SlackWebhook | None:
    """The webhook from `$SLACK_WEBHOOK_URL`, else the saved block `block_name`, else None."""
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        return SlackWebhook(url=url)
    if block_name:
        try:
            return SlackWebhook.load(block_name)
        except ValueError:  # no block of that name
            return None
    return None


def post_message(webhook: SlackWebhook, text: str, timeout: float | None = None) -> None:
    """Post `text` with the block's Slack client, waiting at most `timeout` seconds for Slack."""
    timeout = SLACK_TIMEOUT_SECONDS if timeout is None else timeout
    client = webhook.get_client(sync_client=True)
    client.timeout = timeout
    try:
        response = client.send(text=text)
    except OSError as exc:  # urllib's URLError, socket timeouts, refused connections
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise SlackError(f"Slack did not answer within {timeout:g} s (timeout)") from None
        raise SlackError(f"could not reach Slack ({reason})") from None
    if response.status_code >= 400:
        raise SlackError(f"Slack answered HTTP {response.status_code}: {str(response.body)[:200]}")


def send_failure_summary(flow, flow_run, state) -> None:
    """State hook (on_failure, on_crashed): one Slack message per run that ends Failed or Crashed, naming
    every failed URL and why (the state's message). Runs once, when the run's final state is set."""
    webhook = find_slack_webhook(flow_run.parameters.get("slack_webhook_block"))
    if webhook is not None:
        name = current_name(flow_run)
        post_message(webhook, f"Price check failed: run '{name}' ended {state.name}. {state.message}")


def current_name(flow_run) -> str:
    """The run's name as the API has it now: the hook's copy was read before the run named itself."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run.id).name
