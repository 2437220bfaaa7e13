"""One process's turns at one host under a Prefect rate limit (a global concurrency limit with slot decay).

    pacer = HostPacer("requests-to-127.0.0.1-8000")
    pacer.wait()          # before each request, from any thread: returns when it may go

The server (prefect/server/models/concurrency_limits_v2.py) counts a limit's taken slots and frees them
at `slot_decay_per_second`, counted from its last write to the limit. Taken slots are therefore time
reserved ahead: granting n slots while s are taken reserves the stretch [now + s/rate, now + (s+n)/rate),
and stretches never overlap. A pacer's background thread reserves slots a little before its threads
need them; `wait` hands out turns `1 / rate` apart inside the reserved stretches. What the pacer does
about the server's ways (each measured, see bench/README.md):

- A write to the limit on a busy SQLite server can collide with another write: the server answers 503
  after a while, and Prefect's client waits 2 s, 4 s, 8 s before trying again. The pacer tries again at
  once, and reserves more slots per write (and further ahead) the longer its writes take.
- A refused request for slots is a write too, and restarts the decay count: slots free up later for
  everyone. So the pacer reads the limit first (a read writes nothing) and asks only for free slots.
- A grant does not say where its stretch starts. The pacer computes it from the limit read right after
  its grant, which it can do while the limit's grant before was its own too, or none was active. A pacer
  that finds another process's slots taken waits until none are. So while one process keeps asking, a
  host's turns go to it; others get theirs when it stops. The rate at the host stays the limit's.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import httpx
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

logger = logging.getLogger(__name__)

LOCKED = 423  # the server's answer when the slots asked for are taken
TRY_AGAIN = 503  # the server's answer when a write collided with another one (SQLite): nothing was written
QUICK_TRIES = 20  # tries for a 503 or a lost connection, one right after the other
GIVE_BACK_TRIES = 6  # for slots given back (a busy SQLite server can refuse several writes in a row)
POLL_SECONDS = 0.01  # the shortest wait before reading a limit again
TURN_SLACK = 0.25  # of a gap: how late a stretch's last turn may be (clock rounding)
SPACING = 1.04  # turns are 4% further apart than the slots: requests reach the host a little unevenly
ROUNDING = 1e-3  # slots: more than the server's floating-point error when it counts freed slots
IDLE_SECONDS = 1.0  # nobody asked for a turn for this long (and three gaps): give back what is reserved
WAITING_POLL_SECONDS = 0.1  # how often a pacer waiting for another process's slots reads the limit
MIN_AHEAD_SECONDS = 3.0  # keep at least this much time reserved ahead of the turns handed out
AHEAD_PER_WRITE = 2.0  # ... and twice as long as the slowest recent write took
FORGET = 0.9  # how slowly a slow write is forgotten (per write)


@dataclass(frozen=True)
class Taken:
    """A limit's row right after a grant: `slots` taken at server time `updated`, freed at `per_second`."""

    slots: int
    updated: float
    per_second: float

    def level(self, at: float) -> int:
        """Slots still taken at server time `at`; never more than the server counts."""
        freed = math.floor(self.per_second * (at - self.updated) + ROUNDING)
        return max(0, self.slots - freed)

    def free_at(self, level: int) -> float:
        """The server time from which at most `level` slots are taken."""
        return self.updated + (self.slots - level) / self.per_second

    def explains(self, limit, read_from: float, read_to: float) -> bool:
        """Does this row, refusals since moving `updated` on, explain a read made between the two times?"""
        moved = Taken(self.slots, limit.updated.timestamp(), self.per_second)
        if moved.updated < self.updated or limit.slot_decay_per_second != self.per_second:
            return False
        return moved.level(read_to + 0.001) - 1 <= limit.active_slots <= moved.level(read_from - 0.001)


class HostPacer:
    """Turns for one process at one rate limit; thread-safe (a task runner's threads share one)."""

    def __init__(self, name: str):
        self.name = name
        self.reservations = 0  # grants so far
        self._cond = threading.Condition()
        self._windows: deque[tuple[float, float, float]] = deque()  # (first turn, last turn, gap), in order
        self._next_turn = 0.0  # server clock (time.time() on the same machine)
        self._asked_at = 0.0
        self._waiting = 0
        self._reserver: threading.Thread | None = None
        self._error: Exception | None = None
        self._closing = False
        self._go_lock = threading.Lock()
        self._last_go = 0.0
        self._taken: Taken | None = None  # the reserver's: the limit after our latest grant, while it is ours
        self._write_seconds = 0.0  # the reserver's: how long a grant takes, slow ones remembered a while

    def wait(self) -> None:
        """Block until this process may send one more request to the host."""
        while True:
            with self._cond:
                turn, gap, last = self._take_turn()
            time.sleep(max(0.0, turn - time.time()))
            with self._go_lock:  # a thread that woke up late must not bunch up with the next one ...
                go = max(time.time(), self._last_go + gap)
                if go <= last:  # ... nor go after its slots' stretch (another process's): else another turn
                    self._last_go = go
                    break
        time.sleep(max(0.0, go - time.time()))

    def close(self, timeout: float = 5.0) -> None:
        """Stop reserving and give back the slots reserved ahead (at exit: other processes get them now)."""
        with self._cond:
            self._closing = True
            reserver = self._reserver
            self._cond.notify_all()
        if reserver is not None:
            reserver.join(timeout)
        with self._cond:
            self._closing = False

    def _take_turn(self) -> tuple[float, float, float]:
        """The next turn, the gap to the one after, and the last moment the turn's slots allow."""
        self._waiting += 1
        try:
            while True:
                self._asked_at = time.time()
                turn = max(self._next_turn, self._asked_at)
                while self._windows and max(turn, self._windows[0][0]) > self._windows[0][1]:
                    self._windows.popleft()
                if self._windows:
                    first, last, gap = self._windows[0]
                    turn = max(turn, first)
                    self._next_turn = turn + gap * SPACING
                    return turn, gap * SPACING, last
                if self._reserver is None:
                    self._error = None
                    # In the caller's context: the same Prefect settings (API URL) as the flow run's.
                    context = contextvars.copy_context()
                    self._reserver = threading.Thread(
                        target=context.run, args=(self._reserve_ahead,), name=f"pacer {self.name}", daemon=True
                    )
                    self._reserver.start()
                self._cond.wait(timeout=1.0)
                if self._error is not None:
                    raise RuntimeError(f"rate limit {self.name!r}: no slots") from self._error
        finally:
            self._waiting -= 1

    # The reserver thread ------------------------------------------------------------------------

    def _reserve_ahead(self) -> None:
        try:
            # No waits of 2, 4, 8 s on a 503: `_call` tries again at once.
            with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), get_client(sync_client=True) as client:
                while not self._idle():
                    if self._far_enough_ahead():
                        continue
                    window = self._reserve(client)
                    if window is None:
                        break
                    with self._cond:
                        self._windows.append(window)
                        self._cond.notify_all()
                self._give_back(client)
        except Exception as error:
            with self._cond:
                self._error = error
        finally:
            with self._cond:
                self._reserver = None
                self._cond.notify_all()

    def _nap(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closing, timeout=seconds)

    def _idle(self) -> bool:
        with self._cond:
            if self._closing:
                return True
            gap = self._windows[-1][2] if self._windows else 0.0
            return self._waiting == 0 and time.time() - self._asked_at > max(IDLE_SECONDS, 3 * gap)

    def _ahead_wanted(self) -> float:
        return MIN_AHEAD_SECONDS + AHEAD_PER_WRITE * self._write_seconds

    def _far_enough_ahead(self) -> bool:
        """Is enough time reserved ahead? If so, wait until it is not (or a turn is asked for)."""
        with self._cond:
            ahead = (self._windows[-1][1] if self._windows else 0.0) - time.time()
            if ahead <= self._ahead_wanted():
                return False
            self._cond.wait(timeout=min(ahead - self._ahead_wanted(), 1.0))
            return True

    def _reserve(self, client) -> tuple[float, float, float] | None:
        """Take slots for the next stretch; returns its turns (None when nobody needs them any more)."""
        while not self._idle():
            limit, read_from, read_to = self._read(client)
            per_second, size = limit.slot_decay_per_second, limit.limit
            wanted = min(max(1, size // 2), max(1, math.ceil(per_second * self._ahead_wanted())))
            if self._taken is not None and limit.active_slots and self._taken.explains(limit, read_from, read_to):
                self._taken = Taken(self._taken.slots, limit.updated.timestamp(), per_second)
                room, wake = size - wanted, self._taken.free_at(size - wanted)
            else:  # no slots taken, or someone else's: wait until none are, then take more than half of them,
                # so that anyone asking at the same moment is refused (unused ones are given back at the end)
                self._taken = None
                wanted, room = size // 2 + 1, 0
                wake = read_to + min(limit.active_slots / per_second, WAITING_POLL_SECONDS)
            if limit.active_slots > room:
                self._nap(max(POLL_SECONDS, wake - time.time()))
                continue
            asked = time.time()
            if self._ask(client, wanted):
                window = self._window_of(client, wanted, per_second)
                self._write_seconds = max(time.time() - asked, FORGET * self._write_seconds)
                if window is not None:
                    return window
        return None

    def _give_back(self, client) -> None:
        """Return the slots reserved ahead that nobody will use, so that other processes get them now."""
        with self._cond:
            unused = sum(_turns(max(self._next_turn, first), last, gap) for first, last, gap in self._windows)
            self._windows.clear()
        taken, self._taken = self._taken, None
        if taken is None or unused < 2:
            return
        try:
            # Returning slots moves the server's count on, rounded down: keep one for that.
            release = client.release_concurrency_slots
            _call(release, names=[self.name], slots=unused - 1, occupancy_seconds=1.0, tries=GIVE_BACK_TRIES)
        except (httpx.HTTPStatusError, httpx.TransportError) as error:
            logger.debug("%s: reserved slots not given back (%s); they free themselves", self.name, error)
        else:
            logger.debug("%s: %d reserved slots given back", self.name, unused - 1)

    def _read(self, client):
        before = time.time()
        limit = _call(client.read_global_concurrency_limit_by_name, self.name)
        return limit, before, time.time()

    def _ask(self, client, slots: int) -> bool:
        try:
            _call(client.increment_concurrency_slots, names=[self.name], slots=slots, mode="rate_limit")
        except httpx.HTTPStatusError as error:
            if error.response.status_code != LOCKED:
                raise
            return False  # another process took them first
        return True

    def _window_of(self, client, slots: int, per_second: float) -> tuple[float, float, float] | None:
        """The turns of a grant: its stretch starts where the slots taken before it end.

        None if the limit shows a grant to someone else at the same moment: then where ours starts is
        unknown, and its slots are left unused.
        """
        limit, read_from, read_to = self._read(client)
        granted = limit.updated.timestamp()  # our grant, or a refusal just after it (later: safe)
        before = self._taken.level(granted) if self._taken else 0
        self._taken = Taken(before + slots, granted, per_second)
        if not self._taken.explains(limit, read_from, read_to):
            self._taken = None
            logger.debug("%s: %d slots granted along with someone else's; left unused", self.name, slots)
            return None
        self.reservations += 1
        gap = 1 / per_second
        first = granted + before * gap
        logger.debug("%s: %d slots, turns from %.3f to %.3f", self.name, slots, first, first + slots * gap)
        return first, first + (slots - 1 + TURN_SLACK) * gap, gap


def _turns(first: float, last: float, gap: float) -> int:
    """How many turns `gap` apart fit from `first` to `last`."""
    return max(0, math.floor((last - first) / gap) + 1)


def _call(method, *args, tries: int = QUICK_TRIES, **kwargs):
    """`method(*args, **kwargs)`, tried again at once on a 503 or a lost connection (up to `tries` times)."""
    for attempt in range(1, tries + 1):
        try:
            return method(*args, **kwargs)
        except httpx.HTTPStatusError as error:
            if error.response.status_code != TRY_AGAIN or attempt == tries:
                raise
        except httpx.TransportError:
            if attempt == tries:
                raise
        time.sleep(POLL_SECONDS * attempt)
