"""Measure how long something takes, for the numbers the notebooks show."""

from __future__ import annotations

import time


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.seconds = 0.0
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self._started

    def __str__(self) -> str:
        return f"{self.seconds:.2f} s"
