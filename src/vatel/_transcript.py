"""The conversation of one voice session, assembled from its events.

(Interface only; the assembly and latency figures are filled in separately.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._events import Event

__all__ = ["Transcript"]


class Transcript:
    """The turns of one voice session, with per-turn latency (``conn.transcript``)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock

    # Called by the connection for every event it delivers, in order.
    def _on_event(self, event: Event) -> None:
        pass

    # Called by the connection once a tool call's output has been sent.
    def _on_tool_output(self, tool_call_id: str, output: str) -> None:
        pass

    # Called by the connection once a chunk of input audio (PCM bytes) has been sent.
    def _on_input_audio(self, pcm_bytes: int) -> None:
        pass
