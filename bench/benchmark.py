"""Measure the kit: `make bench` prints markdown tables and writes them to bench/README.md.

    python bench/benchmark.py            # everything (also the test suite and fresh installs: ~25 min)
    python bench/benchmark.py --quick    # skip the test suite and the installs (prints only)
    python bench/benchmark.py --rate --first-run --cold   # only those sections: updated in bench/README.md

Sections: timings (concurrency, caching, load, imports, suite, installs), rate limits (bench/rates.py),
the first run (bench/first_run.py), the cold start (bench/cold_start.py). Each notes the load average
it was measured under.

Every ratio in a row comes from the same run on the same machine; absolute times vary between machines.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from flow_code.kit.notebook_helpers import Stopwatch
from flow_code.kit.processes import REPO

PAGE_DELAY = 0.25
PAGE_COUNTS = (1, 8, 32, 128)
LOAD_URLS = 500
# (database, URLs, limit): rate limits have their own section (bench/rates.py).
LOAD_CASES = (
    ("SQLite", 500, None),
    ("PostgreSQL", 500, None),
)
LOAD_RUN = """
import json, resource, sys
from flow_code.nike_flow import run_price_check
from flow_code.kit.notebook_helpers import Stopwatch
urls, limit, history = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
with Stopwatch() as watch:
    checks = run_price_check(urls, 150, retry_delay_seconds=0, requests_per_second=limit, history_path=history)
print(json.dumps({"seconds": watch.seconds, "prices": sum(c.price is not None for c in checks),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(function, *args, **kwargs) -> float:
    with Stopwatch() as watch:
        function(*args, **kwargs)
    return watch.seconds


def run_command(command: list[str], env: dict | None = None, cwd: Path = REPO) -> float:
    return timed(subprocess.run, command, env=env, cwd=cwd, check=True, capture_output=True)


def flow_rows(shop) -> list[tuple[str, str, str]]:
    """Sequential vs .map, cache hit vs miss, per-run overhead: in this process, on the bench server."""
    from datetime import timedelta

    from prefect import flow, task
    from prefect.cache_policies import INPUTS
    from prefect.task_runners import ThreadPoolTaskRunner

    from flow_code.nike_flow import find_nike_price

    @flow(flow_run_name="bench-loop")
    def loop(urls: list[str]):
        return [find_nike_price(url) for url in urls]

    @flow(flow_run_name="bench-map", task_runner=ThreadPoolTaskRunner(max_workers=max(PAGE_COUNTS)))
    def mapped(urls: list[str]):
        return find_nike_price.map(urls).result()

    @flow(flow_run_name="bench-empty")
    def empty():
        return None

    empty()  # warm-up: the first flow run in a process also imports and registers things
    rows = []
    base = shop.product_urls()[0]
    one = None
    for count in PAGE_COUNTS:
        urls = [f"{base}?delay={PAGE_DELAY}&copy={i}" for i in range(count)]
        sequential, concurrent = timed(loop, urls), timed(mapped, urls)
        one = one or concurrent
        rows.append(
            (
                f"{count} slow pages ({PAGE_DELAY} s each): for-loop vs `.map`",
                f"{sequential:.2f} s vs {concurrent:.2f} s",
                f"`.map` {sequential / concurrent:.1f}x faster; {concurrent / one:.2f}x the 1-page run",
            )
        )

    @task(cache_policy=INPUTS, cache_expiration=timedelta(hours=1), persist_result=True)
    def cached_price(url: str):
        return find_nike_price.fn(url)

    timings = {}

    @flow(flow_run_name="bench-cache")
    def cache_twice(url: str):
        timings["miss"] = timed(cached_price, url)
        timings["hit"] = timed(cached_price, url)

    cache_twice(f"{base}?delay={PAGE_DELAY}&bench={time.time()}")
    rows.append(
        (
            "cached task: miss vs hit (one slow page)",
            f"{timings['miss']:.3f} s vs {timings['hit']:.3f} s",
            f"hit {timings['miss'] / timings['hit']:.0f}x faster",
        )
    )

    runs = [timed(empty) for _ in range(5)]
    rows.append(
        (
            "one empty flow run (mean of 5)",
            f"{sum(runs) / len(runs):.2f} s",
            "the floor for any flow run: the heartbeat thread is joined at exit",
        )
    )
    return rows


def load_rows(shop, sqlite_api_url: str) -> list[tuple[str, str, str]]:
    """Many URLs against the demo shop, each case in its own process: achieved rate and peak memory.

    The same runs on a server with SQLite (`prefect server start`'s default) and with PostgreSQL.
    """
    from flow_code.kit.postgres import TemporaryPostgres, postgres_bin
    from flow_code.kit.processes import PrefectServer

    rows = []
    postgres = server = None
    try:
        for database, count, limit in LOAD_CASES:
            api_url = sqlite_api_url
            if database == "PostgreSQL":
                if postgres_bin() is None:
                    continue
                if server is None:
                    postgres = TemporaryPostgres()
                    env = {"PREFECT_API_DATABASE_CONNECTION_URL": postgres.prefect_url}
                    server = PrefectServer(ui=False, env=env)
                api_url = server.api_url
            rows.append(load_row(shop, api_url, database, count, limit))
    finally:
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.stop()
    return rows


def load_row(shop, api_url: str, database: str, count: int, limit: float | None) -> tuple[str, str, str]:
    import json

    shop.reset()
    shop.latency = 0.05
    urls = [f"{url}?n={i}" for i, url in enumerate(shop.product_urls() * count)][:count]
    history = Path(tempfile.mkdtemp(prefix="bench-load-")) / "prices.sqlite"
    output = subprocess.run(
        [sys.executable, "-c", LOAD_RUN, json.dumps(urls), json.dumps(limit), str(history)],
        cwd=REPO,
        env={**os.environ, "PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    times = shop.request_times()
    rate = (len(times) - 1) / (times[-1] - times[0])
    against = f"limit {limit:g}/s" if limit else "no rate limit"
    share = f" ({100 * rate / limit:.0f}% of the limit)" if limit else ""
    return (
        f"{count} URLs (pages 0.05 s, 16 threads), {against}, server on {database}",
        f"{result['seconds']:.1f} s",
        f"{rate:.1f} requests/s at the shop{share}; {result['prices']} prices; peak memory {result['peak_mb']:.0f} MB",
    )


def main_job_rows(api_url: str) -> list[tuple[str, str, str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cold = run_command(
        [sys.executable, "-m", "flow_code.nike_flow"],
        env={**clean, "PREFECT_HOME": tempfile.mkdtemp(prefix="bench-cold-")},
    )
    warm = run_command(
        [sys.executable, "-m", "flow_code.nike_flow"],
        env={**clean, "PREFECT_API_URL": api_url, "PREFECT_HOME": tempfile.mkdtemp(prefix="bench-")},
    )
    return [
        (
            "main job: cold (fresh PREFECT_HOME, temporary server) vs a running server",
            f"{cold:.1f} s vs {warm:.1f} s",
            f"cold is {cold / warm:.1f}x slower: server start-up and migrations",
        )
    ]


def import_rows() -> list[tuple[str, str, str]]:
    """CPU of `import prefect` in a new process, with `rfc3987` (as installed) and with it hidden."""

    def cpu_seconds(code: str, runs: int = 3) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(runs):
            subprocess.run([sys.executable, "-c", code], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs

    with_it = cpu_seconds("import prefect")
    without = cpu_seconds("import sys; sys.modules['rfc3987'] = None; import prefect")
    return [
        (
            "`import prefect` in a new process, CPU (mean of 3): with vs without `rfc3987`",
            f"{with_it:.1f} s vs {without:.1f} s",
            f"{without / with_it:.1f}x: without it jsonschema builds rfc3987-syntax's parsers; every kernel, "
            "CLI call, worker and flow-run process pays this",
        )
    ]


def suite_rows() -> list[tuple[str, str, str]]:
    report = Path(tempfile.mkdtemp()) / "junit.xml"
    with Stopwatch() as suite:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
            cwd=REPO,
            capture_output=True,
        )
    wall = suite.seconds
    cases = ElementTree.parse(report).getroot().iter("testcase")
    times = [(case.get("classname", ""), float(case.get("time", 0))) for case in cases]
    total = sum(seconds for _, seconds in times)
    notebooks = sum(seconds for name, seconds in times if "ipynb" in name or "test_notebooks" in name)
    return [
        (
            "whole test suite (`make test`'s pytest)",
            f"{wall / 60:.1f} min wall",
            f"notebooks (nbval + papermill): {100 * notebooks / total:.0f}% of {total / 60:.1f} min test time",
        )
    ]


def install_rows() -> list[tuple[str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        times = {}
        if shutil.which("uv"):
            venv = Path(scratch) / "uv"
            times["uv"] = run_command(["uv", "venv", "-q", str(venv)]) + run_command(
                ["uv", "pip", "install", "-q", "--compile-bytecode", "-r", "requirements.txt", "--no-cache"],
                env={**os.environ, "VIRTUAL_ENV": str(venv)},
            )
        venv = Path(scratch) / "pip"
        times["pip"] = run_command([sys.executable, "-m", "venv", str(venv)]) + run_command(
            [str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", "-r", "requirements.txt"]
        )
    detail = f"uv {times['pip'] / times['uv']:.0f}x faster" if "uv" in times else "uv not installed"
    rows.append(
        (
            "install the pinned stack into a new venv: pip vs uv",
            " vs ".join(f"{times[tool]:.0f} s" for tool in ("pip", "uv") if tool in times),
            detail,
        )
    )
    return rows


SECTIONS = {
    "rate": (
        "Rate limits",
        "A limit of R requests/s per host (`requests_per_second`) should bring close to R, and never more than "
        "R + 1 requests in any 1-second window. Before `flow_code/pacer.py` the flow asked Prefect's `rate_limit` "
        "for one slot per request: the rows below show what that reached and why (each slot is a write; on SQLite "
        "writes collide with the flow's own and come back 503, which Prefect's client retries after 2, 4, 8 s).",
    ),
    "first_run": ("First run", "A fresh clone with empty package caches, `make demo` until the table is printed."),
    "cold": (
        "Cold start",
        "The main job on a fresh Prefect home against Prefect's own floor, measured alternately in one run. The "
        "job launches Prefect's temporary server before it imports the capstone (`flow_code/kit/temporary_server.py`) "
        "and skips the interpreter's last garbage collection at exit (`gc.freeze()`).",
    ),
}


def section_rows(name: str) -> list[tuple[str, str, str]]:
    if name == "rate":
        from rates import rate_rows

        return rate_rows()
    if name == "first_run":
        from first_run import first_run_rows

        return first_run_rows()
    from cold_start import cold_rows

    return cold_rows()


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| what | time | ratio / note |", "| --- | --- | --- |"]
    return "\n".join(lines + [f"| {what} | {seconds} | {note} |" for what, seconds, note in rows])


def measured_on(load_before: float) -> str:
    import prefect

    return (
        f"Measured on {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}, Prefect {prefect.__version__}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )


def write_sections(sections: dict[str, str], path: Path = REPO / "bench" / "README.md") -> None:
    """Replace (or add) these `## ` sections of bench/README.md, keeping the others."""
    intro = "# Benchmarks\n\n`make bench` (or `python bench/benchmark.py`) writes this file.\n"
    old = path.read_text() if path.exists() else intro
    parts = old.split("\n## ")
    head, kept = parts[0].rstrip("\n") + "\n", {part.split("\n", 1)[0]: part for part in parts[1:]}
    for title, body in sections.items():
        kept[title] = f"{title}\n\n{body.strip()}\n"
    path.write_text(head + "".join(f"\n## {part.rstrip()}\n" for part in kept.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the test suite and the fresh installs")
    parser.add_argument("--load", action="store_true", help="only the 500-URL load rows (prints only)")
    parser.add_argument("--rate", action="store_true", help="only the rate-limit rows")
    parser.add_argument("--first-run", action="store_true", help="only the fresh clone to table rows")
    parser.add_argument("--cold", action="store_true", help="only the cold start profile")
    args = parser.parse_args()
    chosen = [name for name in SECTIONS if getattr(args, name)]

    sections = {}
    if not chosen:
        sections["Timings"] = timings_section(args)
        if args.quick or args.load:
            print(sections["Timings"])
            return
        chosen = list(SECTIONS)
    for name in chosen:
        title, about = SECTIONS[name]
        load = os.getloadavg()[0]
        rows = section_rows(name)
        sections[title] = f"{about}\n\n{measured_on(load)}\n\n{table(rows)}"
        print(f"## {title}\n\n{sections[title]}\n", flush=True)
    write_sections(sections)


def timings_section(args) -> str:
    from flow_code.kit import demo_shop
    from flow_code.kit.processes import PrefectServer

    load = os.getloadavg()[0]
    server = PrefectServer()
    os.environ.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(server.home), PREFECT_LOGGING_LEVEL="WARNING")
    try:
        with demo_shop.start() as shop:
            rows = [] if args.load else flow_rows(shop)
            rows += load_rows(shop, server.api_url)
        if not args.load:
            rows += main_job_rows(server.api_url) + import_rows()
        if not (args.quick or args.load):
            rows += suite_rows() + install_rows()
    finally:
        server.stop()
    return f"{measured_on(load)}\n\n{table(rows)}"


if __name__ == "__main__":
    main()
