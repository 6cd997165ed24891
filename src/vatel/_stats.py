"""Counters of one voice session, kept live on the connection."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["SessionStats"]


@dataclass(slots=True)
class SessionStats:
    """What one voice session has moved and met so far (``conn.stats``).

    The connection updates this object as frames come and go; take
    :meth:`copy` for a snapshot that stays still. Byte counts are those of the
    frames' UTF-8 text, as on the wire without the WebSocket framing. The
    ``tool_calls*`` counters are kept by ``run()``, which answers the calls:
    every call it receives counts in ``tool_calls`` and then in one of the others.
    """

    frames_received: int = 0
    """Text frames read from the server, malformed ones included."""
    bytes_received: int = 0
    frames_sent: int = 0
    """Frames written to the server."""
    bytes_sent: int = 0
    malformed_frames: int = 0
    """Frames the contract does not allow: skipped by iteration, raised by ``recv()``."""
    unknown_events: int = 0
    """Frames of a message type this SDK does not know, delivered as ``UnknownEvent``."""
    receive_queue_high_water: int = 0
    """The most frames that were waiting, read from the socket but not yet received."""
    tool_calls: int = 0
    """Tool calls received."""
    tool_calls_answered: int = 0
    """Tool calls whose handler returned and whose output was sent."""
    tool_calls_failed: int = 0
    """Tool calls answered with an error output: the handler raised, the tool is
    unknown or the arguments did not fit."""
    tool_calls_timed_out: int = 0
    """Tool calls answered with an error output because the handler ran out of time."""
    tool_calls_cancelled: int = 0
    """Tool calls cancelled by an interruption."""
    tool_calls_rejected: int = 0
    """Tool calls refused because too many were in flight."""
    tool_calls_duplicate: int = 0
    """Tool calls whose ``tool_call_id`` was already received: not run again."""
    reconnects: int = 0
    """Times the connection was dialled again after dropping (with ``reconnect=``)."""
    audio_chunks_dropped: int = 0
    """Chunks of input audio dropped because the connection was down."""
    audio_bytes_dropped: int = 0
    """PCM bytes in those chunks."""

    def copy(self) -> SessionStats:
        """A snapshot of the counters as they are now."""
        return dataclasses.replace(self)
