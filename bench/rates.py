"""Rate limits measured at the shop: `python bench/benchmark.py --rate` (rows for bench/README.md).

For each database (SQLite, PostgreSQL), on a fresh Prefect server, flows run in processes of their own
against demo shops in this one, which record when each request arrives:
- Prefect's `rate_limit(name)` per request (what the flow did before `flow_code/pacer.py`);
- the kit's `requests_per_second`: one host; three hosts in one run; two runs at once against one host;
- three hosts in one run without a limit: what the machine reaches with 600 task runs in one process.
Each row: requests/s reached at a host against the limit, and the most requests in any 1-second window.
And why the first one falls short: how long a slot costs (a write) while a flow runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from flow_code.kit import demo_shop
from flow_code.kit.notebook_helpers import Stopwatch, most_in_one_second
from flow_code.kit.processes import REPO, PrefectServer

LIMIT = 20.0  # requests per second per host
PAGE_SECONDS = 0.05
PACED_URLS = 200  # per host and run: 10 s at the limit

RUN = """
import json, os, sys, time
from pathlib import Path
from flow_code.nike_flow import run_price_check
urls, limit = json.loads(sys.argv[1]), float(sys.argv[2])
if os.environ.get("BENCH_BARRIER"):  # runs "at once" start together: imports take seconds more or less
    Path(os.environ["BENCH_BARRIER"], str(os.getpid())).touch()
    while len(os.listdir(os.environ["BENCH_BARRIER"])) < int(os.environ["BENCH_RUNS"]):
        time.sleep(0.05)
checks = run_price_check(urls, 150, retry_delay_seconds=0, requests_per_second=limit or None)
print(json.dumps(sum(check.price is not None for check in checks)))
"""
# The flow's rate limit before flow_code/pacer.py: one `rate_limit` call per request, taken by the flow.
PER_REQUEST_RUN = """
import json, math, sys
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit
from flow_code.nike_flow import find_nike_price
urls, limit = json.loads(sys.argv[1]), float(sys.argv[2])
name = "bench-rate-limit-per-request"
with get_client(sync_client=True) as client:
    client.upsert_global_concurrency_limit_by_name(name, max(1, math.floor(limit)), limit)

@flow
def per_request(urls):
    futures = []
    for url in urls:
        rate_limit(name, strict=True)
        futures.append(find_nike_price.submit(url))
    return [future.result() for future in futures]

print(json.dumps(len(per_request(urls))))
"""
# While a flow runs (until the file BENCH_STOP names exists): a slot write every 0.2 s, client retries off; reads.
PROBE = """
import json, os, time
from pathlib import Path
from prefect.client.orchestration import get_client
writes, refused, reads = [], [], []
stop = Path(os.environ["BENCH_STOP"])
with get_client(sync_client=True) as client:
    client.upsert_global_concurrency_limit_by_name("bench-probe", 1_000_000, 1_000_000)
    while not stop.exists():
        started = time.monotonic()
        try:
            client.increment_concurrency_slots(names=["bench-probe"], slots=1, mode="rate_limit")
            writes.append(time.monotonic() - started)
        except Exception:
            refused.append(time.monotonic() - started)
        started = time.monotonic()
        client.read_global_concurrency_limit_by_name("bench-probe")
        reads.append(time.monotonic() - started)
        time.sleep(0.2)
print(json.dumps({"writes": writes, "refused": refused, "reads": reads}))
"""
RATE_LIMIT_CALL = """
import json, time
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit
with get_client(sync_client=True) as client:
    client.upsert_global_concurrency_limit_by_name("bench-call", 1_000_000, 1_000_000)
rate_limit("bench-call")
started = time.monotonic()
for _ in range(50):
    rate_limit("bench-call")
print(json.dumps((time.monotonic() - started) / 50))
"""


def reached(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def start_run(code: str, api_url: str, urls: list[str], extra_env: dict | None = None, limit: float = LIMIT):
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_LOGGING_LEVEL": "WARNING", **(extra_env or {})}
    env["PRICE_HISTORY_PATH"] = str(Path(env.get("TMPDIR", "/tmp")) / f"bench-rates-{os.getpid()}.sqlite")
    args = [sys.executable, "-c", code, json.dumps(urls), str(limit)]
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class RunFailed(Exception):
    """A flow run of the bench ended with an error (its last line is the message)."""


def finish(run: subprocess.Popen) -> str:
    out, err = run.communicate(timeout=600)
    if run.returncode:
        raise RunFailed(err.strip().splitlines()[-1][:300] if err.strip() else f"exit status {run.returncode}")
    return out


def finish_all(runs: list[subprocess.Popen]) -> str:
    """Wait for every run; the errors of those that failed, if any."""
    errors = []
    for run in runs:
        try:
            finish(run)
        except RunFailed as error:
            errors.append(str(error))
    return "; ".join(errors)


def host_row(
    what: str, database: str, shops: list, seconds: float, errors: str = "", limited: bool = True
) -> tuple[str, str, str]:
    parts = [f"**a run failed**: {errors}"] if errors else []
    for number, shop in enumerate(shops, start=1):
        times = shop.request_times()
        host = f"host {number}: " if len(shops) > 1 else ""
        if len(times) < 2:
            parts.append(f"{host}{len(times)} requests")
            continue
        rate = reached(times)
        share = f" ({100 * rate / LIMIT:.0f}%)" if limited else ""
        parts.append(f"{host}{rate:.1f}/s{share}, at most {most_in_one_second(times)} in 1 s")
    limit = f"limit {LIMIT:g}/s per host, " if limited else ""
    return (f"{what}, {limit}server on {database}", f"{seconds:.1f} s", "; ".join(parts))


def urls_at(shop, count: int) -> list[str]:
    return [f"{url}?bench={i}" for i, url in enumerate(shop.product_urls() * count)][:count]


def fresh_shops(count: int) -> list:
    return [demo_shop.start(latency=PAGE_SECONDS) for _ in range(count)]


def reset(shops: list) -> None:
    for shop in shops:
        shop.reset()
        shop.latency = PAGE_SECONDS


def database_rows(database: str, api_url: str) -> list[tuple[str, str, str]]:
    rows = []
    shops = fresh_shops(3)
    try:
        per_request_urls = PACED_URLS if database == "PostgreSQL" else 20  # SQLite: about a minute
        with Stopwatch() as watch:
            errors = finish_all([start_run(PER_REQUEST_RUN, api_url, urls_at(shops[0], per_request_urls))])
        what = f"{per_request_urls} URLs, Prefect's `rate_limit` per request"
        rows.append(host_row(what, database, shops[:1], watch.seconds, errors))

        reset(shops)
        with Stopwatch() as watch:
            errors = finish_all([start_run(RUN, api_url, urls_at(shops[0], PACED_URLS))])
        rows.append(host_row(f"{PACED_URLS} URLs, `requests_per_second`", database, shops[:1], watch.seconds, errors))

        mixed = [url for group in zip(*(urls_at(shop, PACED_URLS) for shop in shops), strict=True) for url in group]
        for limit in (LIMIT, 0):
            reset(shops)
            with Stopwatch() as watch:
                errors = finish_all([start_run(RUN, api_url, mixed, limit=limit)])
            what = f"3 hosts x {PACED_URLS} URLs in one run" + ("" if limit else ", no limit (the machine's ceiling)")
            rows.append(host_row(what, database, shops, watch.seconds, errors, limited=bool(limit)))

        reset(shops)
        urls = urls_at(shops[0], 2 * PACED_URLS)
        together = {"BENCH_BARRIER": tempfile.mkdtemp(prefix="bench-runs-"), "BENCH_RUNS": "2"}
        with Stopwatch() as watch:
            errors = finish_all([start_run(RUN, api_url, urls[half::2], together) for half in (0, 1)])
        what = f"2 runs at once x {PACED_URLS} URLs, one host"
        rows.append(host_row(what, database, shops[:1], watch.seconds, errors))
    finally:
        for shop in shops:
            shop.stop()
    return rows


def why_rows(database: str, api_url: str) -> list[tuple[str, str, str]]:
    """What a slot costs: `rate_limit()` alone, and writes to a limit while a flow runs."""
    call = json.loads(finish(start_run(RATE_LIMIT_CALL, api_url, [])))
    rows = [
        (
            f"one `rate_limit()` call, nothing else running, server on {database}",
            f"{1000 * call:.0f} ms",
            f"a limit of {LIMIT:g}/s leaves {1000 / LIMIT:.0f} ms per request",
        )
    ]
    shop = demo_shop.start(latency=PAGE_SECONDS)
    stop = Path(tempfile.mkdtemp(prefix="bench-probe-")) / "stop"
    try:
        flow = start_run(RUN, api_url, urls_at(shop, 300), limit=0)
        probe = start_run(PROBE, api_url, [], extra_env={"PREFECT_CLIENT_MAX_RETRIES": "0", "BENCH_STOP": str(stop)})
        finish(flow)
        stop.touch()
        result = json.loads(finish(probe))
    finally:
        shop.stop()
    writes, refused, reads = sorted(result["writes"]), sorted(result["refused"]), sorted(result["reads"])
    total = len(writes) + len(refused)
    median = lambda values: values[len(values) // 2] if values else float("nan")  # noqa: E731
    rows.append(
        (
            f"slot writes during a 300-URL flow (retries off), server on {database}",
            f"{1000 * median(writes):.0f} ms",
            f"median of those that succeeded; {len(refused)} of {total} answered 503"
            + (f" after {median(refused):.1f} s (Prefect's client then waits 2, 4, 8 s)" if refused else "")
            + f"; reads: {1000 * median(reads):.0f} ms",
        )
    )
    return rows


def rate_rows() -> list[tuple[str, str, str]]:
    from flow_code.kit.postgres import TemporaryPostgres, postgres_bin

    rows = []
    with PrefectServer(ui=False) as server:
        rows += why_rows("SQLite", server.api_url) + database_rows("SQLite", server.api_url)
    if postgres_bin() is not None:
        with TemporaryPostgres() as postgres:
            env = {"PREFECT_API_DATABASE_CONNECTION_URL": postgres.prefect_url}
            with PrefectServer(ui=False, env=env) as server:
                rows += why_rows("PostgreSQL", server.api_url) + database_rows("PostgreSQL", server.api_url)
    return rows
