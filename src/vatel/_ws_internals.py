"""Where the SDK works beneath ``websockets``' documented API, kept in one place.

Closing during a flood needs two things the public API does not offer: drop
data frames as they arrive, and make the reader read on although nobody
consumes what it queued. Both touch undocumented parts of ``websockets``: the
connection's ``process_event`` hook and the attributes of its message
assembler (``recv_messages``: ``high``, ``low``, ``paused``, ``mutex``,
``resume``). Both are here and nowhere else, with the one reading of its
queue's length that ``conn.stats.receive_queue_high_water`` needs
(:func:`queue_depth`). The connection classes add two
send-side hooks of the same kind for ``send_timeout`` (the threading
connection's ``send_data``, the asyncio one's ``drain``).
``tests/test_ws_internals.py`` checks all of them, by name and by behaviour,
against the installed release; :data:`TESTED_RANGE` is the range they were
checked on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from websockets.frames import DATA_OPCODES

TESTED_RANGE = ((15, 0), (18, 0))
"""The ``websockets`` releases (first included, last excluded) this module was
checked against; ``pyproject.toml`` pins the dependency to the same range."""


class LateFrameFilter:
    """Mixed into ``websockets``' client connection, sync and async alike.

    Once closing starts (``discarding``), data frames are dropped as they
    arrive, so a server flooding instead of answering our close cannot grow
    memory; control frames, the server's close among them, still get through.
    ``send_timed_out`` marks a send cut short by ``send_timeout``.
    """

    discarding = False
    send_timed_out = False

    def process_event(self, event: Any) -> None:
        if self.discarding and getattr(event, "opcode", None) in DATA_OPCODES:
            return
        super().process_event(event)  # type: ignore[misc]


def discard_unread(connection: Any) -> None:
    """From now on drop ``connection``'s incoming data frames, and read on.

    Reading stops while ``max_queue`` frames wait unread; the server's close
    frame would then sit behind them. Lifting the assembler's limits (and
    resuming it if it paused) lets that close through; frames already queued
    stay, so they are still delivered. A release without these attributes
    loses only the resume: frames are still dropped.
    """
    connection.discarding = True
    assembler = getattr(connection, "recv_messages", None)
    if assembler is None or not hasattr(assembler, "paused"):
        return
    with getattr(assembler, "mutex", None) or contextlib.nullcontext():
        assembler.high = assembler.low = None
        if assembler.paused:
            assembler.paused = False
            assembler.resume()


def _nothing_waiting() -> int:
    return 0


def queue_depth(connection: Any) -> Callable[[], int]:
    """A function giving how many frames ``connection`` has read from the socket
    and not delivered yet: the length of its message assembler's queue.

    Looked up once per connection, so each call is one C-level length read (the
    threading assembler's :class:`queue.SimpleQueue`, the asyncio one's deque).
    A release laid out otherwise gets a function that says 0.
    """
    frames = getattr(getattr(connection, "recv_messages", None), "frames", None)
    qsize = getattr(frames, "qsize", None)  # the threading client
    if callable(qsize):
        return qsize  # type: ignore[no-any-return]
    queued = getattr(frames, "queue", None)  # the asyncio client's deque
    length = getattr(queued, "__len__", None)
    if callable(length):
        return length  # type: ignore[no-any-return]
    return _nothing_waiting
