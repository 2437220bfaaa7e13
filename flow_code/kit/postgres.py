"""A throwaway PostgreSQL server on loopback, for the production layout's tests and benchmark.

    with TemporaryPostgres() as db:            # initdb + postgres, waited for
        PrefectServer(env={"PREFECT_API_DATABASE_CONNECTION_URL": db.prefect_url})

Uses Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`); `.ci/run` installs it.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from flow_code.kit.processes import BackgroundProcess, free_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name))
    return found[-1].parent if found else None


class TemporaryPostgres:
    """initdb + postgres in a temporary folder, trust auth on 127.0.0.1 only; started by the constructor.

    The folder is removed on stop, and also when initdb or the server fails to start.
    """

    def __init__(self, port: int | None = None, timeout: float = 60):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="kit-postgres-"))
        self.data = self.folder / "data"
        self.prefect_url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self.process: BackgroundProcess | None = None
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _start(self, timeout: float) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            self._as_owner(
                [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        server = [str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port)]
        server += ["-k", str(self.folder), "-c", "max_connections=200"]
        self.process = BackgroundProcess(
            self._as_owner(server), log_path=self.folder / "postgres.log", remove_on_stop=[self.folder]
        )
        self.process.wait_until_ready(self._accepts_connections, f"PostgreSQL on port {self.port}", timeout)

    def _accepts_connections(self) -> bool:
        ready = [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(ready, capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
