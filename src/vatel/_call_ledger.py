"""One session's tool calls: the ids seen, the calls in flight, and what each came to.

A ``tool_call`` whose ``tool_call_id`` was already received is never run again.
If the first one is still running, the duplicate gets nothing (its answer is
on the way); once answered, the duplicate gets the same output again: a server
that repeats a call most likely lost the answer, and leaving it without one
would hold the agent up until its own time-out, while the same answer twice is
harmless. The memory is bounded: the last :data:`MAX_REMEMBERED_IDS` ids (kept
as 16-byte digests, so a server sending huge ids costs no more), and outputs
of at most :data:`MAX_KEPT_OUTPUT_CHARS` characters in all (the oldest are let go first;
a duplicate of a call whose output was let go gets nothing).

The counters land in the connection's :class:`vatel.SessionStats`: every call
received counts in ``tool_calls``, then in exactly one of ``tool_calls_answered``,
``_failed``, ``_timed_out``, ``_cancelled`` (once its output is sent),
``_rejected`` or ``_duplicate`` (a call the session ended before answering counts
in none of them).
"""

from __future__ import annotations

import hashlib
import logging
import reprlib
import threading
from collections import OrderedDict

from ._events import ToolCall
from ._stats import SessionStats
from ._tools import ToolContext

__all__ = ["MAX_KEPT_OUTPUT_CHARS", "MAX_REMEMBERED_IDS", "CallLedger"]

log = logging.getLogger("vatel")

MAX_REMEMBERED_IDS = 1024
MAX_KEPT_OUTPUT_CHARS = 1 << 20

_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 80

_COUNTERS = {
    "answered": "tool_calls_answered",
    "failed": "tool_calls_failed",
    "timed_out": "tool_calls_timed_out",
    "cancelled": "tool_calls_cancelled",
}


def _digest(tool_call_id: str) -> bytes:
    return hashlib.blake2b(tool_call_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CallLedger:
    """The tool calls of one session (safe from the receiving and worker threads)."""

    def __init__(
        self,
        stats: SessionStats,
        *,
        max_ids: int = MAX_REMEMBERED_IDS,
        max_output_chars: int = MAX_KEPT_OUTPUT_CHARS,
    ) -> None:
        self._stats = stats
        self._max_ids = max_ids
        self._max_output_chars = max_output_chars
        self._seen: OrderedDict[bytes, str | None] = OrderedDict()
        self._kept_chars = 0
        self._running: dict[bytes, ToolContext] = {}
        self._lock = threading.Lock()

    @property
    def remembered(self) -> int:
        """Ids remembered now (at most ``max_ids``)."""
        return len(self._seen)

    @property
    def busy(self) -> bool:
        """True while some call is on its way to an answer."""
        return bool(self._running)

    def received(self) -> None:
        """A tool call arrived that the caller answers itself (``run`` without tools)."""
        with self._lock:
            self._stats.tool_calls += 1

    def admit(self, call: ToolCall) -> tuple[bool, str | None]:
        """``(True, None)`` for a call to run; for a duplicate, ``(False, output)``
        with the output to send again (``None``: send nothing)."""
        key = _digest(call.tool_call_id)
        with self._lock:
            self._stats.tool_calls += 1
            running = key in self._running
            if not running and key not in self._seen:
                self._remember(key, None)
                return True, None
            self._stats.tool_calls_duplicate += 1
            output = None if running else self._seen.get(key)
        if running:
            what = "its answer is still to come"
        elif output is None:
            what = "its answer is not kept; nothing is sent"
        else:
            what = "its answer is sent again"
        log.info(
            "Tool call %s to %s was already received: not run again (%s).",
            _brief.repr(call.tool_call_id),
            _brief.repr(call.tool_name),
            what,
        )
        return False, output

    def begin(self, call: ToolCall) -> ToolContext:
        """The call is on its way to a handler: its context, for cancelling it."""
        context = ToolContext(call)
        with self._lock:
            self._running[_digest(call.tool_call_id)] = context
        return context

    def settle(self, context: ToolContext, output: str | None, *, sent: bool) -> None:
        """The call is over; ``output`` was ``sent`` to the agent (or not)."""
        key = _digest(context.call.tool_call_id)
        with self._lock:
            self._running.pop(key, None)
            if not sent or output is None:
                return
            counter = _COUNTERS.get(context._kind or "answered", "tool_calls_answered")
            setattr(self._stats, counter, getattr(self._stats, counter) + 1)
            self._keep(key, output)

    def rejected(self, call: ToolCall, output: str, *, sent: bool) -> None:
        """The call was refused unrun (too many in flight)."""
        with self._lock:
            self._stats.tool_calls_rejected += 1
            if sent:
                self._keep(_digest(call.tool_call_id), output)

    def interrupt(self) -> int:
        """The user interrupted the agent: cancel the calls whose tools allow it.

        Returns how many were cancelled.
        """
        with self._lock:
            running = list(self._running.values())
        return sum(context._interrupt() for context in running)

    # -- bounded memory ---------------------------------------------------------

    def _remember(self, key: bytes, output: str | None) -> None:
        self._seen[key] = output
        self._seen.move_to_end(key)
        while len(self._seen) > self._max_ids:
            _, dropped = self._seen.popitem(last=False)
            if dropped is not None:
                self._kept_chars -= len(dropped)

    def _keep(self, key: bytes, output: str) -> None:
        if key not in self._seen:
            return  # forgotten already: a flood of newer ids pushed it out
        previous = self._seen[key]
        if previous is not None:
            self._kept_chars -= len(previous)
        if len(output) > self._max_output_chars:
            self._seen[key] = None
            return
        self._seen[key] = output
        self._kept_chars += len(output)
        if self._kept_chars > self._max_output_chars:
            for other in list(self._seen):
                kept = self._seen[other]
                if self._kept_chars <= self._max_output_chars:
                    break
                if kept is not None and other != key:
                    self._seen[other] = None
                    self._kept_chars -= len(kept)
