"""The price history: every price the capstone reads, kept in a SQLite file.

    history = PriceHistory()               # $PRICE_HISTORY_PATH, else data/price-history.sqlite
    history.observations(url)              # oldest first
    history.previous(url, flow_run_id)     # the latest observation made by another run

Writes are single SQLite transactions in WAL mode, so a process killed mid-run leaves every row whole.
Each row's key is (flow run id, URL): a retried task or a retried flow run records a price once.
(Slack messages are kept to one per run and URL by Prefect itself: `notify_slack`'s cache key.)
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

HISTORY_ENV = "PRICE_HISTORY_PATH"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "price-history.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    flow_run_id TEXT NOT NULL,
    url TEXT NOT NULL,
    product TEXT,
    price TEXT NOT NULL,
    currency TEXT,
    checked_at TEXT NOT NULL,
    PRIMARY KEY (flow_run_id, url)
);
CREATE INDEX IF NOT EXISTS observations_by_url ON observations (url, checked_at);
"""
# The columns in `Observation`'s field order (`_observation` reads a row back).
SELECT_OBSERVATIONS = "SELECT url, product, price, currency, checked_at, flow_run_id FROM observations"


@dataclass(frozen=True)
class Observation:
    """One price read from one URL by one flow run."""

    url: str
    product: str | None
    price: Decimal
    currency: str | None
    checked_at: datetime
    flow_run_id: str


def history_path(path: str | os.PathLike | None = None) -> Path:
    """`path`, else `$PRICE_HISTORY_PATH`, else `data/price-history.sqlite` in the kit."""
    return Path(path or os.environ.get(HISTORY_ENV) or DEFAULT_PATH)


class PriceHistory:
    """The SQLite price history at `path` (created on first use)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = history_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    def record(self, observation: Observation) -> bool:
        """Append `observation` in one transaction; False if this run already recorded this URL."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO observations VALUES (?, ?, ?, ?, ?, ?)",
                (
                    observation.flow_run_id,
                    observation.url,
                    observation.product,
                    str(observation.price),
                    observation.currency,
                    observation.checked_at.astimezone(UTC).isoformat(),
                ),
            )
            return cursor.rowcount == 1

    def observations(self, url: str | None = None) -> list[Observation]:
        """Every observation (of `url`, if given), oldest first."""
        where, args = ("WHERE url = ?", (url,)) if url else ("", ())
        with self._connect() as db:
            rows = db.execute(
                f"{SELECT_OBSERVATIONS} {where} ORDER BY checked_at, rowid",
                args,
            ).fetchall()
        return [_observation(row) for row in rows]

    def previous(self, url: str, flow_run_id: str) -> Observation | None:
        """The latest observation of `url` made by a flow run other than `flow_run_id`."""
        with self._connect() as db:
            row = db.execute(
                f"{SELECT_OBSERVATIONS} "
                "WHERE url = ? AND flow_run_id != ? ORDER BY checked_at DESC, rowid DESC LIMIT 1",
                (url, flow_run_id),
            ).fetchone()
        return _observation(row) if row else None

    def integrity(self) -> str:
        """SQLite's own consistency check of the file: "ok" when it is sound."""
        with self._connect() as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0]


def _observation(row) -> Observation:
    url, product, price, currency, checked_at, flow_run_id = row
    return Observation(url, product, Decimal(price), currency, datetime.fromisoformat(checked_at), flow_run_id)


def _now() -> datetime:
    return datetime.now(UTC)
