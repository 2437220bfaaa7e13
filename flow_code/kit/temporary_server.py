"""Prefect's temporary server, launched first by the main job so that it boots while the job imports the rest.

    python -m flow_code.nike_flow      # no API URL set: the flow runs on Prefect's temporary server

With no API URL, Prefect's client starts a temporary server (`SubprocessASGIServer`: a uvicorn process,
one per process) when a flow first needs the API, and waits for it; on a fresh Prefect home its start
(imports, database migrations) is most of the main job's time. `start_early()` asks for that same server
before the capstone is imported, from a thread that waits for it, so it boots on the other core while
the job imports the capstone and starts the demo shop. `ready()` waits for it (and raises what its start
raised) before the flow's first API call; the client then finds it running. Prefect stops it at exit
(it registers that with `atexit`): after the table, on an error, on Ctrl-C, and on SIGTERM, which this
module turns into a normal exit.
"""

from __future__ import annotations

import atexit
import gc
import sys
import threading

from flow_code.kit.processes import exit_on_sigterm

_boot: threading.Thread | None = None
_failure: list[BaseException] = []


def start_early(argv: list[str] | None = None) -> None:
    """Start Prefect's temporary server in the background: for the main job only, when no API URL is set."""
    global _boot
    argv = sys.argv[1:] if argv is None else argv
    if _boot is not None or argv[:1] in (["serve"], ["automations"]) or {"-h", "--help"} & set(argv):
        return  # `serve` and `automations` start what they need themselves; a help text needs no server
    # Importing Prefect's server modules makes about 300,000 objects, all kept: collecting garbage among
    # them while they are imported is CPU spent before the server can launch.
    gc.disable()
    try:
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url is not None or not settings.server.ephemeral.enabled:
            return
        from prefect.server.api.server import SubprocessASGIServer
    finally:
        gc.enable()
    exit_on_sigterm()  # Prefect stops its server at exit: SIGTERM too must be an exit
    _boot = threading.Thread(target=_start, args=(SubprocessASGIServer(),), name="temporary server", daemon=True)
    _boot.start()
    # The interpreter's last garbage collection would walk those objects again at exit (about a second):
    # frozen, they are left for the process's end to free. Registered first, so it runs after Prefect's own.
    atexit.register(gc.freeze)


def _start(server) -> None:
    try:
        server.start()
    except BaseException as error:  # raised where the job waits for the server, in `ready()`
        _failure.append(error)


def ready() -> None:
    """Wait until the server `start_early()` launched answers; at once if it launched none."""
    while _boot is not None and _boot.is_alive():
        _boot.join(0.1)  # in slices: a Ctrl-C is acted on within 0.1 s, whichever thread its signal reaches
    if _failure:
        raise _failure[0]
