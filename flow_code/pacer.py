"""One process's turns at its hosts under Prefect rate limits (global concurrency limits with slot decay).

    pacer = HostPacer("requests-to-127.0.0.1-8000")
    pacer.expect(200)     # optional: the requests about to be made
    pacer.wait()          # before each request, from any thread: returns when it may go

The server (prefect/server/models/concurrency_limits_v2.py) counts a limit's taken slots and frees them
at `slot_decay_per_second`, counted from its last write to the limit. Taken slots are therefore time
reserved ahead, in a queue: granting n slots while s are taken reserves the stretch
[now + s/rate, now + (s+n)/rate), and stretches never overlap. A thread per process writes to the
limits; `wait` hands out turns `1 / rate` apart inside the stretches it reserved. What the pacer does
about the server's ways (each measured, see bench/README.md):

- On a busy SQLite server most writes to a limit collide with the server's own writes (the task runs
  and events of the flows): the server answers 503 after a while (often 2 s), and Prefect's client
  waits 2 s, 4 s, 8 s before trying again. So the pacer writes rarely: one grant is more than half the
  limit (12 s of requests with the kit's limits); after a 503 it reads the limit and asks again at once.
- One thread per process (and server) does every write for all the process's hosts: a process's writes
  never collide with each other, and the hosts that need slots get them in one write (`increment` takes
  several limits). A run's hosts then have slots at the same time: a flow whose threads all wait at
  one host would otherwise leave the others idle, and their pacers would give their slots back.
- A refused request for slots is a write too, and restarts the decay count: slots free up later for
  everyone. So the pacer reads the limit first (a read writes nothing) and asks only when there is room.
- A grant does not say where its stretch starts. The pacer reads the limit before and after asking: if
  the slots taken before ours are what the first read showed, ours are the last ones the second read
  counts. Else someone else's grant came in between, and ours are left unused. As a grant is more than
  half the limit, two grants only fit some seconds apart: two processes asking at the same moment
  cannot both get slots, so this is rare. Other processes' stretches simply queue up with ours.
- Slots reserved and not used are given back (while ours are the last ones in the queue: giving back
  slots moves every later stretch), right after a grant larger than the requests still `expect`ed and
  when the process stops asking: others then get their turns at once.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

import httpx
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, get_current_settings, temporary_settings

logger = logging.getLogger(__name__)

LOCKED = 423  # the server's answer when the slots asked for are taken
TRY_AGAIN = 503  # the server's answer when a write collided with another one (SQLite): nothing was written
GIVE_UP_SECONDS = 120.0  # no write to the limits went through for this long: the waiting requests fail
GIVE_BACK_TRIES = 3  # for slots given back (a busy SQLite server can refuse several writes in a row)
POLL_SECONDS = 0.01  # the shortest wait before reading a limit again
TURN_SLACK = 0.25  # of a gap: how late a stretch's last turn may be (clock rounding)
SPACING = 1.04  # turns are 4% further apart than the slots: requests reach the host a little unevenly
ROUNDING = 1e-3  # slots: more than the server's floating-point error when it counts freed slots
IDLE_SECONDS = 2.0  # nobody asked a process's pacers for a turn for this long: give back what is reserved
APART_SECONDS = 2.0  # a grant is more than half a limit by this many seconds of slots: two grants fit only
# twice as far apart, so two processes asking at about the same moment cannot both get slots
SPARE_SECONDS = 1.0  # turns kept beyond the expected requests (threads late for theirs lose them): the
# next process's stretch starts after them, so each is time the host waits
CLOCK_SLACK = 0.05  # seconds: the server's clock may be this far behind ours (same machine)
NEVER = math.inf


@dataclass(frozen=True)
class Taken:
    """A limit's slots as a read shows them: `low` to `high` stored at server time `updated`, freed at `per_second`.

    The server stores the slots taken at its last write to the limit (`updated`); a read shows them less
    those freed since, counted at a moment the client knows only to within the read's round trip.
    """

    low: int
    high: int
    updated: float
    per_second: float

    @classmethod
    def read(cls, limit, read_from: float, read_to: float) -> Taken:
        """What a read made between the two times says about the slots the server stored."""
        per_second, updated = limit.slot_decay_per_second, limit.updated.timestamp()
        if not limit.active_slots:  # all freed by the read: as good as none stored at its end
            return cls(0, 0, max(updated, read_to), per_second)
        low = limit.active_slots + _freed(per_second, read_from - updated, -ROUNDING)
        return cls(low, limit.active_slots + _freed(per_second, read_to - updated, ROUNDING), updated, per_second)

    def level(self, at: float, high: bool = True) -> int:
        """Slots still taken at server time `at` (at most, or with `high=False` at least)."""
        return max(0, (self.high if high else self.low) - _freed(self.per_second, at - self.updated, ROUNDING))

    def free_at(self, level: int) -> float:
        """The server time from which at most `level` slots are taken."""
        return self.updated + (self.high - level) / self.per_second

    def explains(self, limit, read_from: float, read_to: float) -> bool:
        """Does this row, refusals since moving `updated` on, explain a read made between the two times?"""
        moved = replace(self, updated=limit.updated.timestamp())
        if moved.updated < self.updated or limit.slot_decay_per_second != self.per_second:
            return False
        return moved.level(read_to + 0.001, high=False) - 1 <= limit.active_slots <= moved.level(read_from - 0.001)


def _freed(per_second: float, seconds: float, rounding: float) -> int:
    """Slots the server has freed `seconds` after its last write (it rounds down)."""
    return max(0, math.floor(per_second * seconds + rounding))


class HostPacer:
    """Turns for one process at one rate limit; thread-safe (a task runner's threads share one).

    `writer`: the thread that writes to the limits; by default the process's for the current API URL.
    Pacers with writers of their own behave as separate processes do.
    """

    def __init__(self, name: str, writer: Writer | None = None):
        self.name = name
        self.writer = writer or Writer.for_this_process()
        self.reservations = 0  # grants so far
        self._cond = self.writer.cond
        self._windows: deque[tuple[float, float, float]] = deque()  # (first turn, last turn, gap), in order
        self._next_turn = 0.0  # server clock (time.time() on the same machine)
        self._asked_at = 0.0
        self._waiting = 0
        self._expected: int | None = None  # turns announced and not yet handed out; None: unknown
        self._go_lock = threading.Lock()
        self._last_go = 0.0
        # The writer's:
        self._taken: Taken | None = None  # the limit after our latest grant, while ours are the last slots
        self._before: Taken | None = None  # the limit as read before asking for slots
        self._not_before = 0.0  # when reading the limit again makes sense
        self._ahead = 0.0  # seconds of turns left when the limit has room for a grant of ours
        self.writer.add(self)

    def expect(self, requests: int) -> None:
        """Announce `requests` more turns (a flow's URLs): the pacer reserves no more than they need."""
        with self._cond:
            self._expected = (self._expected or 0) + requests

    def wait(self) -> None:
        """Block until this process may send one more request to the host."""
        while True:
            with self._cond:
                turn, gap, last = self._take_turn()
            time.sleep(max(0.0, turn - time.time()))
            with self._go_lock:  # one thread leaves at a time, a gap after the one before really left ...
                go = max(time.time(), self._last_go + gap)
                if go <= last:  # ... and not after its slots' stretch (another process's): else another turn
                    time.sleep(max(0.0, go - time.time()))
                    self._last_go = time.time()
                    break
        with self._cond:
            if self._expected is not None:  # after the last expected turn, retries: unknown again
                self._expected = self._expected - 1 if self._expected else None
            if self._expected == 0:
                self._cond.notify_all()  # the writer: all expected turns are out

    def close(self, timeout: float = 5.0) -> None:
        """Stop reserving and give back the slots reserved ahead (for all pacers of its writer)."""
        self.writer.close(timeout)

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
                self.writer.start()
                self._cond.wait(timeout=1.0)
                if self.writer.error is not None:
                    raise RuntimeError(f"rate limit {self.name!r}: no slots") from self.writer.error
        finally:
            self._waiting -= 1

    # Called by the writer thread, with the condition held ---------------------------------------

    def _wanted(self, now: float) -> bool:
        """Will threads ask for turns: some wait, or asked lately, and not all expected turns are out."""
        if self._waiting:
            return True
        gap = self._windows[-1][2] if self._windows else 0.0
        return self._expected != 0 and now - self._asked_at <= max(IDLE_SECONDS, 3 * gap)

    def _reserved(self) -> int:
        """Turns reserved and still to come (a turn nobody took in time is lost)."""
        start = max(self._next_turn, time.time())
        return sum(_turns(max(start, first), last, gap) for first, last, gap in self._windows)

    def _due_at(self, now: float) -> float:
        """When this pacer may get more slots; NEVER while nobody asks, or its turns cover what is expected."""
        if not self._wanted(now) or (self._expected is not None and self._reserved() >= self._expected):
            return NEVER
        end = self._windows[-1][1] if self._windows else 0.0
        return max(self._not_before, end - self._ahead)

    def _trim(self, slots: int) -> None:
        """End the reserved stretches `slots` turns earlier (those slots were given back)."""
        while slots > 0 and self._windows:
            first, last, gap = self._windows.pop()
            kept = _turns(first, last, gap) - slots
            if kept > 0:
                self._windows.append((first, last - slots * gap, gap))
            slots = -kept

    # Called by the writer thread, without the condition ------------------------------------------

    def _slots_to_ask(self, limit, read_from: float, read_to: float) -> int | None:
        """How many slots to ask for now, given a read of the limit; None: not yet (`_not_before` set)."""
        per_second, size = limit.slot_decay_per_second, limit.limit
        slots = min(size, size // 2 + 1 + math.ceil(per_second * APART_SECONDS))
        self._ahead = (size - slots) / per_second
        self._before = Taken.read(limit, read_from, read_to)
        if limit.active_slots > size - slots:
            self._not_before = max(time.time() + POLL_SECONDS, self._before.free_at(size - slots))
            logger.debug("%s: %d taken; room from %.3f", self.name, limit.active_slots, self._not_before)
            return None
        logger.debug("%s: %d taken; asking for %d", self.name, limit.active_slots, slots)
        return slots

    def _window_of(self, slots: int, asked: tuple[float, float], limit, read_from: float, read_to: float):
        """The turns of a grant made between the `asked` times, from a read right after it; None if unknown.

        Our slots are the last `slots` the server stored at its last write: ours, or a refusal after it
        (which only delays every stretch). Unless someone else's grant came in between: then the slots
        taken before ours are more than the read before our grant showed, and ours are left unused.
        """
        after = Taken.read(limit, read_from, read_to)
        least, most = self._before.level(asked[1], high=False) - 1, self._before.level(asked[0])
        if after.updated < asked[0] - CLOCK_SLACK or after.low - slots > most or after.high - slots < least:
            self._taken = None
            logger.debug("%s: %d slots granted along with someone else's; left unused", self.name, slots)
            return None
        self._taken = after
        self.reservations += 1
        gap = 1 / after.per_second
        first, last = after.updated + (after.high - slots) * gap, after.updated + (after.low - 1 + TURN_SLACK) * gap
        logger.debug("%s: %d slots, turns from %.3f to %.3f", self.name, slots, first, last)
        return first, last, gap


class Writer:
    """The thread that reads and writes a process's rate limits on one server, for all its pacers.

    It runs while any pacer is asked for turns; when none is any more, it gives back the slots
    reserved ahead and ends (a later turn starts it again).
    """

    _per_server: dict[str | None, Writer] = {}
    _per_server_lock = threading.Lock()

    def __init__(self):
        self.cond = threading.Condition()
        self.error: Exception | None = None
        self._pacers: list[HostPacer] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._last_write = 0.0  # when a write last went through (or the thread started)

    @classmethod
    def for_this_process(cls) -> Writer:
        """The process's writer for the current API URL (None: Prefect's temporary server)."""
        url = get_current_settings().api.url
        with cls._per_server_lock:
            return cls._per_server.setdefault(url, Writer())

    @classmethod
    def close_all(cls, timeout: float = 5.0) -> None:
        """Give back every writer's reserved slots (at exit: other processes get them now)."""
        for writer in list(cls._per_server.values()):
            writer.close(timeout)

    def add(self, pacer: HostPacer) -> None:
        with self.cond:
            if any(other.name == pacer.name for other in self._pacers):
                raise ValueError(f"this writer has a pacer for {pacer.name!r} already")
            self._pacers.append(pacer)

    def start(self) -> None:
        """Make sure the thread runs (call with `cond` held); it notices who needs slots."""
        if self._thread is None:
            self.error = None
            self._last_write = time.time()
            # In the caller's context: the same Prefect settings (API URL) as the flow run's.
            context = contextvars.copy_context()
            self._thread = threading.Thread(target=context.run, args=(self._run,), name="pacer writer", daemon=True)
            self._thread.start()
        self.cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """Stop reserving and give back the slots reserved ahead."""
        with self.cond:
            self._closing = True
            thread = self._thread
            self.cond.notify_all()
        if thread is not None:
            thread.join(timeout)
        with self.cond:
            self._closing = False

    def _run(self) -> None:
        try:
            # No waits of 2, 4, 8 s on a 503: the writer reads the limit again and tries again at once.
            with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), get_client(sync_client=True) as client:
                while (due := self._due()) is not None:
                    self._reserve(client, due)
                self._give_back(client, self._pacers)
        except Exception as error:
            with self.cond:
                self.error = error
        finally:
            with self.cond:
                self._thread = None
                self.cond.notify_all()

    def _due(self) -> list[HostPacer] | None:
        """Wait until some pacers need slots (returned), or none is asked for turns any more (None)."""
        with self.cond:
            while not self._closing:
                now = time.time()
                due_at = {pacer: pacer._due_at(now) for pacer in self._pacers}
                due = [pacer for pacer, at in due_at.items() if at <= now]
                if due:
                    return due
                if not any(pacer._wanted(now) for pacer in self._pacers):
                    return None
                self.cond.wait(timeout=min(1.0, max(POLL_SECONDS, min(due_at.values()) - now)))
        return None

    def _reserve(self, client, due: list[HostPacer]) -> None:
        """Read the due pacers' limits; ask for slots for those with room, in one write per slot count."""
        asks: dict[int, list[HostPacer]] = {}
        for pacer in due:
            slots = pacer._slots_to_ask(*self._read(client, pacer.name))
            if slots is not None:
                asks.setdefault(slots, []).append(pacer)
        for slots, pacers in asks.items():
            asked = time.time()
            if not self._ask(client, [pacer.name for pacer in pacers], slots):
                return  # refused, or the write collided: read again first
            answered = time.time()
            for pacer in pacers:
                window = pacer._window_of(slots, (asked, answered), *self._read(client, pacer.name))
                if window is not None:
                    with self.cond:
                        pacer._windows.append(window)
                        self.cond.notify_all()
            # Right after a grant ours are the last slots, and for a while nobody else's can follow them.
            self._give_back(client, [pacer for pacer in pacers if pacer._expected is not None], keep_expected=True)

    def _give_back(self, client, pacers: list[HostPacer], keep_expected: bool = False) -> None:
        """Return reserved slots nobody will use (beyond the expected turns), so that others get them now.

        Only while ours are the last slots taken (read before each try): else a later stretch, someone
        else's, would move. One slot is kept: returning slots moves the server's count on, rounded down.
        """
        for pacer in pacers:
            with self.cond:
                taken, reserved, expected = pacer._taken, pacer._reserved(), pacer._expected
            if taken is None:
                continue
            spare = math.ceil(taken.per_second * SPARE_SECONDS) if keep_expected else 0
            kept = (expected or 0) + spare + 1 if keep_expected else 1
            if reserved - kept < 1:
                continue
            for _ in range(1 if keep_expected else GIVE_BACK_TRIES):
                if not taken.explains(*self._read(client, pacer.name)):
                    logger.debug("%s: %d reserved slots kept: others' follow", pacer.name, reserved - kept)
                    break
                if self._release(client, pacer, reserved - kept):
                    break

    def _release(self, client, pacer: HostPacer, slots: int) -> bool:
        try:
            _call(client.release_concurrency_slots, names=[pacer.name], slots=slots, occupancy_seconds=1.0, tries=1)
        except (httpx.HTTPStatusError, httpx.TransportError) as error:
            logger.debug("%s: reserved slots not given back (%s)", pacer.name, error)
            return False
        with self.cond:
            pacer._trim(slots)
            pacer._taken = None  # the next grant reads where the queue ends
        logger.debug("%s: %d reserved slots given back", pacer.name, slots)
        return True

    def _read(self, client, name: str):
        before = time.time()
        limit = _call(client.read_global_concurrency_limit_by_name, name)
        return limit, before, time.time()

    def _ask(self, client, names: list[str], slots: int) -> bool:
        """Ask for `slots` of each limit; False if refused or the write did not happen (a 503)."""
        try:
            _call(client.increment_concurrency_slots, names=names, slots=slots, mode="rate_limit", tries=1)
        except httpx.HTTPStatusError as error:
            if error.response.status_code not in (LOCKED, TRY_AGAIN):
                raise
            if error.response.status_code == LOCKED:
                self._last_write = time.time()  # refused, but written: the server is not stuck
        except httpx.TransportError:
            pass
        else:
            self._last_write = time.time()
            return True
        if time.time() - self._last_write > GIVE_UP_SECONDS:
            raise RuntimeError(f"no write to {names} went through for {GIVE_UP_SECONDS:.0f} s")
        return False


def _turns(first: float, last: float, gap: float) -> int:
    """How many turns `gap` apart fit from `first` to `last`."""
    return max(0, math.floor((last - first) / gap) + 1)


def _call(method, *args, tries: int = 20, **kwargs):
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
