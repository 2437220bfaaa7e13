"""Requests per second per shop host: a Prefect global concurrency limit used as a rate limit.

    ensure_host_rate_limits(urls, per_second=5)   # once per run: one limit per host, and the requests to expect
    wait_for_turn(url, per_second=5)              # before each request: returns when it may go

The limits live on the Prefect server, so every flow run, worker and process that uses the same name
shares them: ten flow runs against one shop still send at most `per_second` requests a second.

How a process takes its turns (bench/README.md has the measurements behind this). Asking the server for
one slot per request, as `prefect.concurrency.sync.rate_limit` does, reaches a fraction of the limit:
each slot is a database write (a `rate_limit()` call alone costs about the 50 ms a 20/s limit leaves per
request), and on SQLite writes collide with the server's own and come back 503, which Prefect's client
retries after 2, 4, 8 s. So each process keeps one `HostPacer` per host (flow_code/pacer.py), and one
thread that writes for all of them: it reserves seconds of requests per write, ahead of need, and hands
out turns `1 / per_second` apart inside the stretch of time the server counts those slots taken.
Stretches never overlap, so a host gets at most `per_second` requests a second from any number of
processes, and no burst at the start. The limit's `limit` is therefore not a burst but how far ahead
slots can be reserved (`RESERVE_SECONDS`): use these limits through `wait_for_turn`, not `rate_limit`.
"""

from __future__ import annotations

import atexit
import math
import re
import threading
from collections import Counter
from urllib.parse import urlsplit

from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings

from flow_code.pacer import HostPacer, Writer

RESERVE_SECONDS = 20  # a limit's slots: this many seconds of requests, the most reserved ahead at a host


def host_limit_name(url: str) -> str:
    """The name of the rate limit for `url`'s host, e.g. `requests-to-127.0.0.1-8000`."""
    parts = urlsplit(url)
    return "requests-to-" + re.sub(r"[^A-Za-z0-9.-]", "-", parts.netloc or "unknown-host")


def limit_slots(per_second: float) -> int:
    """The slots of a host's limit: `RESERVE_SECONDS` seconds of requests."""
    return RESERVE_SECONDS * max(1, math.floor(per_second))


def ensure_host_rate_limits(urls: list[str], per_second: float) -> list[str]:
    """Create (or update) one rate limit per host in `urls`; returns their names.

    A flow calls this before requesting `urls`: this process's pacers then expect one request per URL
    and reserve no more than that (retries beyond it are paced all the same).
    """
    names = _upsert_limits(urls, per_second)
    requests = Counter(host_limit_name(url) for url in urls)
    for url in {host_limit_name(url): url for url in urls}.values():
        host_pacer(url, per_second, create=False).expect(requests[host_limit_name(url)])
    return names


def _upsert_limits(urls: list[str], per_second: float) -> list[str]:
    if per_second <= 0:
        raise ValueError(f"requests_per_second must be above 0, got {per_second}")
    names = sorted({host_limit_name(url) for url in urls})
    with get_client(sync_client=True) as client:
        for name in names:
            client.upsert_global_concurrency_limit_by_name(name, limit_slots(per_second), per_second)
    return names


_pacers: dict[tuple[str | None, str], HostPacer] = {}
_pacers_lock = threading.Lock()


def host_pacer(url: str, per_second: float, create: bool = True) -> HostPacer:
    """This process's pacer for `url`'s host on the current server (one per host, shared by all threads).

    `create`: create the host's limit if this process has no pacer for it yet.
    """
    key = (get_current_settings().api.url, host_limit_name(url))
    with _pacers_lock:
        if key not in _pacers:
            if create:
                _upsert_limits([url], per_second)
            _pacers[key] = HostPacer(key[1])
        return _pacers[key]


@atexit.register
def _close_pacers() -> None:
    """At exit, give back the slots this process reserved ahead (a daemon thread would just die)."""
    Writer.close_all()


def wait_for_turn(url: str, per_second: float) -> None:
    """Block until one more request may go to `url`'s host under its rate limit."""
    host_pacer(url, per_second).wait()
