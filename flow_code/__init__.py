"""The workshop kit's code: the capstone flow, the demo shop and the local Slack receiver.

The kit runs offline, on laptops and small CI machines, so before Prefect is imported:
- anonymous usage telemetry is off (offline it only logs "Failed to send telemetry");
- the embedded ("temporary") server may take up to 2 minutes to start: with a fresh
  PREFECT_HOME its database migrations alone take ~20 s on 2 cores, Prefect's default limit.
Both are defaults: a value already in the environment wins.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
