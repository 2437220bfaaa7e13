"""The capstone price tracker. Start at nike_flow.py; it imports the rest of this folder.

    nike_flow.py    the flow and its tasks (find_nike_price, compare_price, record_price), the main job
    prices.py       read_offer: price, currency and product from a page's JSON-LD, microdata or meta tags
    fetch.py        fetch_page: HTTP with a timeout, a size cap and errors that name the URL
    history.py      the SQLite price history: one row per run and URL, whole even when a run is killed
    notify.py       where Slack alerts go (SLACK_WEBHOOK_URL or a SlackWebhook block), with a timeout
    rate_limits.py  one Prefect rate limit per shop host
    pacer.py        a process's turns under a rate limit: slots reserved ahead, requests spaced evenly
    observe.py      what a run publishes: the `shoe-prices` table artifact, a summary, price-drop events
    automations.py  the automation "Shoe price dropped": Slack alerts sent by the server on each drop event
    serve.py        `python -m flow_code.nike_flow serve`: the flow served on a schedule
    kit/            the props (demo shop, Slack receiver) and the kit's machinery, not the capstone

The kit runs offline, on laptops and small CI machines, and leaves the learner's own Prefect alone, so
before Prefect is imported:
- Prefect's home (its settings profiles, database and results) is the repo's `.prefect/`, not `~/.prefect`,
  unless PREFECT_HOME or PREFECT_API_URL is already set: a Prefect Cloud login or a server of your own
  is then neither used nor changed by the kit;
- anonymous usage telemetry is off (offline it only logs "Failed to send telemetry");
- the embedded ("temporary") server may take up to 2 minutes to start: with a fresh
  PREFECT_HOME its database migrations alone take ~20 s on 2 cores, Prefect's default limit.
Each is a default: a value already in the environment wins.
"""

import os
from pathlib import Path

KIT_PREFECT_HOME = Path(__file__).resolve().parent.parent / ".prefect"

if not (os.environ.get("PREFECT_HOME") or os.environ.get("PREFECT_API_URL")):
    os.environ["PREFECT_HOME"] = str(KIT_PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
