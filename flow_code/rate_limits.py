"""Requests per second per shop: a Prefect global concurrency limit used as a rate limit.

    ensure_host_rate_limits(urls, per_second=5)   # once: one limit per host, on the server
    rate_limit(host_limit_name(url))              # before each request: waits for a slot

The limits live on the Prefect server, so every flow run and worker that uses the same name shares
them: ten flow runs against one shop still send at most `per_second` requests a second.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from prefect.client.orchestration import get_client


def host_limit_name(url: str) -> str:
    """The name of the rate limit for `url`'s host, e.g. `requests-to-127.0.0.1-8000`."""
    parts = urlsplit(url)
    return "requests-to-" + re.sub(r"[^A-Za-z0-9.-]", "-", parts.netloc or "unknown-host")


def ensure_host_rate_limits(urls: list[str], per_second: float) -> list[str]:
    """Create (or update) one rate limit per host in `urls`; returns their names."""
    if per_second <= 0:
        raise ValueError(f"requests_per_second must be above 0, got {per_second}")
    names = sorted({host_limit_name(url) for url in urls})
    with get_client(sync_client=True) as client:
        for name in names:
            # limit = the burst allowed at once; slots free up at `per_second`.
            client.upsert_global_concurrency_limit_by_name(name, max(1, math.floor(per_second)), per_second)
    return names
