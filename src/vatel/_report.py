"""What :meth:`vatel.Connection.run` returns: the session, as it went."""

from __future__ import annotations

from dataclasses import dataclass

from ._stats import SessionStats
from ._transcript import Transcript

__all__ = ["SessionReport"]


@dataclass(frozen=True, slots=True)
class SessionReport:
    """A voice session once it is over: its transcript and counters."""

    session_id: str | None
    transcript: Transcript
    stats: SessionStats
    close_code: int | None
    close_reason: str | None
