"""What :meth:`vatel.Connection.run` returns: the session, as it went."""

from __future__ import annotations

from dataclasses import dataclass

from ._stats import SessionStats
from ._transcript import Transcript

__all__ = ["SessionReport"]

_BYTES_PER_SECOND = 48_000  # PCM16, 24 kHz, mono


@dataclass(frozen=True, slots=True)
class SessionReport:
    """A voice session once it is over: its transcript and counters.

    ``str(report)`` (or :meth:`summary`) gives a few readable lines.
    """

    session_id: str | None
    """The id from ``session_started`` (``None`` if the session never started)."""
    transcript: Transcript
    """The conversation: the connection's own :class:`vatel.Transcript`."""
    stats: SessionStats
    """The session's counters as they were when ``run()`` returned."""
    close_code: int | None
    """The WebSocket close code (1000: a normal end)."""
    close_reason: str | None
    duration: float = 0.0
    """Seconds ``run()`` ran for."""
    audio_sent_bytes: int = 0
    """PCM bytes of input audio ``run(audio=...)`` sent."""
    audio_received_bytes: int = 0
    """PCM bytes of the agent's audio ``run()`` received."""

    @property
    def audio_sent_seconds(self) -> float:
        """Seconds of input audio ``run(audio=...)`` sent."""
        return self.audio_sent_bytes / _BYTES_PER_SECOND

    @property
    def audio_received_seconds(self) -> float:
        """Seconds of the agent's audio ``run()`` received."""
        return self.audio_received_bytes / _BYTES_PER_SECOND

    def summary(self) -> str:
        """A few lines a person can read: the session, its audio, its latency and
        its tool calls."""
        stats = self.stats
        close = "open" if self.close_code is None else f"closed {self.close_code}"
        if self.close_reason:
            close += f" ({self.close_reason})"
        lines = [
            f"Session {self.session_id or '(not started)'}: {self.duration:.1f} s, {close}",
            f"  audio: {self.audio_sent_seconds:.1f} s sent, "
            f"{self.audio_received_seconds:.1f} s received",
            f"  latency: {self.transcript.latency}",
        ]
        if stats.tool_calls:
            outcomes = [
                (stats.tool_calls_answered, "answered"),
                (stats.tool_calls_failed, "failed"),
                (stats.tool_calls_timed_out, "timed out"),
                (stats.tool_calls_cancelled, "cancelled"),
                (stats.tool_calls_rejected, "rejected"),
                (stats.tool_calls_duplicate, "duplicate"),
            ]
            parts = ", ".join(f"{count} {what}" for count, what in outcomes if count)
            lines.append(f"  tool calls: {stats.tool_calls}" + (f" ({parts})" if parts else ""))
        if stats.reconnects:
            lines.append(f"  reconnects: {stats.reconnects}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
