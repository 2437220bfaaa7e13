"""When will a schedule fire? The next run times of an Interval, Cron or RRule schedule."""

from __future__ import annotations

from datetime import datetime

from prefect.server.schemas import schedules as server_schedules
from prefect.utilities.asyncutils import run_coro_as_sync

SERVER_TYPES = {
    "IntervalSchedule": server_schedules.IntervalSchedule,
    "CronSchedule": server_schedules.CronSchedule,
    "RRuleSchedule": server_schedules.RRuleSchedule,
}


def next_run_times(schedule, n: int = 3, start: datetime | None = None) -> list[datetime]:
    """The next `n` times `schedule` (as read from the API) fires after `start` (default: now)."""
    server_type = SERVER_TYPES[type(schedule).__name__]
    as_server = server_type.model_validate(schedule.model_dump(exclude_unset=True))
    return list(run_coro_as_sync(as_server.get_dates(n=n, start=start)))
