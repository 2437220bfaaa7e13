"""Prefect's log lines in a notebook, with each error on one line instead of a traceback.

Prefect logs a failed task or flow run with its whole traceback (30 lines for a timed-out task).
Notebooks that fail runs on purpose show each error by its log line, its state and its message:

    restore = errors_on_one_line()   # this kernel's console shows no tracebacks...
    restore()                        # ...until this

Only what the notebook shows changes: the console handler (on the root logger) formats each record
without its traceback; the API handler formats it whole, so the run's logs in the UI keep the traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


class WithoutTraceback(logging.Formatter):
    """Formats a record with another formatter, leaving out its traceback (the message names the error)."""

    def __init__(self, formatter: logging.Formatter):
        super().__init__()
        self.formatter = formatter

    def format(self, record: logging.LogRecord) -> str:
        kept = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return self.formatter.format(record)
        finally:
            record.exc_info, record.exc_text = kept


def errors_on_one_line() -> Callable[[], None]:
    """Leave tracebacks out of Prefect's console log lines in this process; returns a function that undoes it."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    handlers = [
        handler
        for logger in (logging.getLogger(), logging.getLogger("prefect"))
        for handler in logger.handlers
        if isinstance(handler, PrefectConsoleHandler) and not isinstance(handler.formatter, WithoutTraceback)
    ]
    originals = [handler.formatter for handler in handlers]
    for handler, formatter in zip(handlers, originals, strict=True):
        handler.setFormatter(WithoutTraceback(formatter))

    def restore() -> None:
        for handler, formatter in zip(handlers, originals, strict=True):
            handler.setFormatter(formatter)

    return restore
