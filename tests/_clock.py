"""A fake clock for pacing tests: time moves only when something sleeps or works.

Give :class:`FakeClock` itself as the clock and :meth:`FakeClock.sleep` (or
:meth:`FakeClock.asleep`) as the sleep: a sleep returns at once and moves the
time forward by exactly what was asked, so the test can assert the schedule to
the microsecond without waiting for it.
"""

from __future__ import annotations

import asyncio
import threading


class FakeClock:
    """Simulated seconds, starting at 0.

    ``tick`` is how far every reading moves the time: the cost of the work a
    paced loop does between two looks at the clock. ``readings``, ``sleeps``
    and ``wakes`` (the time after each sleep) record what happened, in order.
    It may be read and slept on from any one thread at a time.
    """

    def __init__(self, *, tick: float = 0.0) -> None:
        self.now = 0.0
        self.tick = tick
        self.readings: list[float] = []
        self.sleeps: list[float] = []
        self.wakes: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick
            self.readings.append(self.now)
            return self.now

    def advance(self, seconds: float) -> None:
        """Time passing outside any sleep: a consumer doing work, a stall."""
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
            self.wakes.append(self.now)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # a real sleep lets other tasks run; so does this one
