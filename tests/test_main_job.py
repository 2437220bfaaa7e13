"""`python -m flow_code.nike_flow`, the README's main job, run as a user runs it."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from leftovers import Watch

from flow_code import KIT_PREFECT_HOME
from flow_code.kit.demo_shop import CATALOG
from flow_code.kit.processes import children, wait_until

MAIN_JOB = [sys.executable, "-m", "flow_code.nike_flow"]


def test_main_job_checks_the_demo_shop_on_prefects_embedded_default(tmp_path):
    """No server running and no Prefect settings, as on a new laptop (on a fresh clone: a cold start).

    The kit keeps Prefect's home in the repo's .prefect/: the user's ~/.prefect is never created or
    changed. Nothing the job starts (Prefect's temporary server, the demo shop) outlives it.
    """
    watch = Watch(uuid4().hex, tmp_path / "tmp")
    watch.tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
    env.update(watch.env, HOME=str(tmp_path / "home"))
    done = subprocess.run(MAIN_JOB, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    watch.assert_nothing_left()
    assert not (tmp_path / "home" / ".prefect").exists()
    assert (KIT_PREFECT_HOME / "prefect.db").exists()
    table = done.stdout.splitlines()
    assert table[0].split() == ["product", "price", "decision"]
    rows = {line.split()[0]: line for line in table[1:]}
    in_stock = [product for product in CATALOG if product.in_stock]
    assert len(rows) == len(in_stock)
    for product in in_stock:
        decision = "Buy the shoes!" if product.price <= 120 else "Don't buy the shoes."
        assert Decimal(rows[product.slug].split()[1]) == product.price
        assert decision in rows[product.slug]
    assert "Failed to send telemetry" not in done.stderr


@pytest.mark.usefixtures("prefect_api")
def test_a_url_that_cannot_be_checked_is_in_the_table_and_exits_1(shop):
    good = shop.product_urls()[0]
    missing = f"{shop.url}/t/gone-shoe/XX"
    done = subprocess.run([*MAIN_JOB, "--budget", "200", good, missing], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Buy the shoes! Good deal!" in done.stdout
    gone = next(line for line in done.stdout.splitlines() if line.startswith(missing.removeprefix("http://")))
    assert "HTTP 404 Not Found" in gone


def test_help_lists_the_subcommand_and_describes_every_option():
    helps = [
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for command in ([*MAIN_JOB, "--help"], [*MAIN_JOB, "serve", "--help"])
    ]
    for text in helps:
        lines = text.splitlines()
        options = [i for i, line in enumerate(lines) if line.startswith("  -")]
        for i in options:  # the description follows on the same line, or on the next when the option is long
            described = lines[i].strip().partition("  ")[2].strip() or lines[i + 1].startswith(" " * 10)
            assert described, f"{lines[i]!r} has no description"
        assert len(options) >= 4, text
    assert "serve" in helps[0]


def temporary_servers_of(pid: int) -> list[int]:
    """The uvicorn processes (Prefect's temporary server) that process `pid` started."""
    found = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"uvicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("signum", "after"),
    [(signal.SIGINT, 1), (signal.SIGINT, 4), (signal.SIGTERM, 4)],
    ids=["ctrl-c-while-importing", "ctrl-c-while-waiting-for-the-server", "sigterm"],
)
def test_an_interrupted_main_job_stops_its_temporary_server(tmp_path, signum, after):
    """Ctrl-C (SIGINT to the job alone, not to its process group) or SIGTERM while Prefect's temporary server
    is still starting on a fresh home (its migrations take longer than `after` seconds): while the job still
    imports the capstone, or once it waits for the server. The job exits and the server goes with it."""
    watch = Watch(uuid4().hex, tmp_path / "tmp")
    watch.tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
    env.update(watch.env, HOME=str(tmp_path / "home"), PREFECT_HOME=str(tmp_path / "prefect-home"))
    output = tmp_path / "output"
    with output.open("w") as out:  # a file, not a pipe: a server left running would hold a pipe open
        # Ctrl-C as in a terminal: a shell running this suite in the background has set SIGINT to "ignore",
        # and a child inherits that (Python then raises no KeyboardInterrupt).
        job = subprocess.Popen(
            MAIN_JOB, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=sigint_as_in_a_terminal
        )
    try:
        assert wait_until(lambda: temporary_servers_of(job.pid), 120, lambda: job.poll() is None), job.poll()
        time.sleep(after)
        job.send_signal(signum)
        job.wait(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert "product" not in output.read_text()
    watch.assert_nothing_left()
