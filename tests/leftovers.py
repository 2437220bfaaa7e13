"""What a command leaves behind: processes that carry its marker in their environment, and temporary files.

    with watched(monkeypatch, tmp_path) as watch:   # marks the environment, points TMPDIR at tmp_path/tmp
        run the command (its children, their children... inherit both)
    watch.assert_nothing_left()
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

from flow_code.kit.processes import wait_until

MARK = "KIT_LEFTOVER_MARK"
# A Prefect home, a Prefect or price-history database, a PostgreSQL cluster, a process log, a kernel folder.
LEFTOVER_PATTERNS = ["prefect-home*", "*.db", "*.sqlite*", "kit-postgres*", "kit-process-*", "kernel-*"]


def marked_processes(mark: str) -> list[str]:
    """`pid: command line` of every living process whose environment holds `MARK=mark`."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc.name}: {command[:200]}")
        except OSError:  # gone, or a zombie
            continue
    return found


class Watch:
    def __init__(self, mark: str, tmpdir: Path):
        self.mark, self.tmpdir = mark, tmpdir

    @property
    def env(self) -> dict[str, str]:
        """For a command started with an environment of its own."""
        return {MARK: self.mark, "TMPDIR": str(self.tmpdir)}

    def assert_nothing_left(self, grace: float = 20) -> None:
        """No marked process alive after `grace` seconds; no Prefect home, database or cluster in TMPDIR."""
        wait_until(lambda: not marked_processes(self.mark), grace)
        assert marked_processes(self.mark) == []
        left = sorted(str(path.relative_to(self.tmpdir)) for p in LEFTOVER_PATTERNS for path in self.tmpdir.rglob(p))
        assert left == [], f"left in TMPDIR: {left}"


@contextmanager
def watched(monkeypatch, tmp_path: Path):
    """Mark this process's environment (inherited by everything started from here) and give it a TMPDIR."""
    watch = Watch(uuid4().hex, tmp_path / "tmp")
    watch.tmpdir.mkdir()
    for name, value in watch.env.items():
        monkeypatch.setenv(name, value)
    yield watch
