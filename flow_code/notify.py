"""Where Slack alerts go: `SLACK_WEBHOOK_URL`, else a saved `SlackWebhook` block, else nowhere.

A webhook URL is a secret: anyone who has it can post to your channel. It is never a flow
parameter (parameters are stored and shown in the UI) and never in a notebook.
"""

from __future__ import annotations

import os

from prefect_slack import SlackWebhook

WEBHOOK_ENV = "SLACK_WEBHOOK_URL"


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
