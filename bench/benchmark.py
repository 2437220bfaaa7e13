"""Measure the kit: `make bench` prints a markdown table and writes it to bench/README.md.

    python bench/benchmark.py            # everything (also the test suite and fresh installs: ~10 min)
    python bench/benchmark.py --quick    # skip the test suite and the installs

Every ratio in a row comes from the same run on the same machine; absolute times vary between machines.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE_DELAY = 0.25
PAGE_COUNTS = (1, 8, 32, 128)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def run_command(command: list[str], env: dict | None = None, cwd: Path = REPO) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


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


def suite_rows() -> list[tuple[str, str, str]]:
    report = Path(tempfile.mkdtemp()) / "junit.xml"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=REPO,
        capture_output=True,
    )
    wall = time.perf_counter() - started
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
                ["uv", "pip", "install", "-q", "-r", "requirements.txt", "--no-cache"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the test suite and the fresh installs")
    args = parser.parse_args()

    from flow_code import demo_shop, prefect_server

    server = prefect_server.start()
    os.environ.update(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(server.home), PREFECT_LOGGING_LEVEL="WARNING")
    import prefect

    try:
        with demo_shop.start() as shop:
            rows = flow_rows(shop)
        rows += main_job_rows(server.api_url)
        if not args.quick:
            rows += suite_rows() + install_rows()
    finally:
        server.stop()

    header = (
        f"Measured on {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, Prefect {prefect.__version__}, {time.strftime('%Y-%m-%d')}."
    )
    table = "\n".join(
        [
            "| what | time | ratio / note |",
            "| --- | --- | --- |",
            *(f"| {what} | {seconds} | {note} |" for what, seconds, note in rows),
        ]
    )
    text = f"# Benchmarks\n\n`make bench` (or `python bench/benchmark.py`) writes this file.\n\n{header}\n\n{table}\n"
    print(text)
    if not args.quick:
        (REPO / "bench" / "README.md").write_text(text)


if __name__ == "__main__":
    main()
