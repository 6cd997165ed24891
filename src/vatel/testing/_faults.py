"""Fault switches: armed from the test thread, consumed by the server.

REST faults apply to the next ``count`` requests that match ``method`` and
``path`` (an exact path or an ``fnmatch`` pattern such as ``"/v1/agents/*"``),
checked before authentication, as a proxy in front of the API would be. Only
one REST fault applies to a request: the earliest armed one that matches.

Voice faults apply to the next ``sessions`` voice sessions to open (``None``:
every session until :meth:`Faults.reset`). They fire at a point in the session
counted in ``response_audio`` chunks sent: ``after_chunks=0`` fires right after
``session_started``, ``after_chunks=3`` right after the third chunk.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass
from typing import Any, Literal, get_args

MalformedKind = Literal[
    "non_json", "not_object", "missing_type", "wrong_data", "unknown_type", "binary"
]
"""What :meth:`Faults.send_malformed` sends.

``non_json``: text that is not JSON; ``not_object``: a JSON array;
``missing_type``: an object without ``type``; ``wrong_data``: ``response_audio``
whose ``data`` breaks the schema; ``unknown_type``: a ``type`` the contract does
not define; ``binary``: a binary frame.
"""

RestAction = Literal["fail", "delay", "reset", "truncate"]
SessionAction = Literal["close", "drop", "silence", "ignore_pings", "oversized", "malformed"]


@dataclass
class RestFault:
    """One armed REST fault (what the server reads off when a request matches)."""

    action: RestAction
    remaining: int
    method: str | None = None
    path: str | None = None
    status: int = 500
    retry_after: float | str | None = None
    body: Any = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class SessionFault:
    """One fault as a single voice session applies it."""

    action: SessionAction
    after_chunks: int = 0
    code: int = 1011
    reason: str = ""
    size: int = 0
    kind: MalformedKind = "non_json"


@dataclass
class _ArmedSessionFault:
    fault: SessionFault
    remaining: int | None


def _check_count(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1")


def _check_point(after_chunks: int) -> None:
    if after_chunks < 0:
        raise ValueError("after_chunks must not be negative")


def _check_sessions(sessions: int | None) -> None:
    if sessions is not None:
        _check_count("sessions", sessions)


def _check_close_code(code: int) -> None:
    # Codes a peer may put in a close frame (RFC 6455, section 7.4).
    if not (code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"{code} cannot be sent in a close frame")


class Faults:
    """Switches that make the server misbehave on purpose; all off until armed.

    Every method may be called from any thread, before or while the server runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rest: list[RestFault] = []
        self._sessions: list[_ArmedSessionFault] = []
        self._hangs = 0

    # REST

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: float | str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching requests fail with ``status``.

        The body is ``{"error": ...}`` unless ``body`` is given: ``str`` or
        ``bytes`` are sent as they are (``text/plain``), anything else as JSON.
        ``retry_after`` (seconds, or an HTTP date string) is sent as ``Retry-After``.
        """
        _check_count("count", count)
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        self._add_rest(
            RestFault(
                "fail", count, method, path, status=status, retry_after=retry_after, body=body
            )
        )

    def delay_next(
        self, seconds: float, *, count: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``count`` matching requests are answered only after ``seconds``."""
        _check_count("count", count)
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._add_rest(RestFault("delay", count, method, path, seconds=seconds))

    def reset_next(
        self, *, count: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``count`` matching responses announce their full ``Content-Length``,
        send half the body, then drop the TCP connection."""
        _check_count("count", count)
        self._add_rest(RestFault("reset", count, method, path))

    def truncate_next(
        self, *, count: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``count`` matching responses carry only the first half of their
        body, with a ``Content-Length`` that matches: well-formed HTTP, broken JSON."""
        _check_count("count", count)
        self._add_rest(RestFault("truncate", count, method, path))

    def _add_rest(self, fault: RestFault) -> None:
        if fault.method is not None:
            fault.method = fault.method.upper()
        with self._lock:
            self._rest.append(fault)

    def take_rest(self, method: str, path: str) -> RestFault | None:
        """Consume one use of the first armed REST fault matching the request."""
        with self._lock:
            for fault in self._rest:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._rest.remove(fault)
                    return fault
        return None

    # Voice

    def hang_handshake(self, *, count: int = 1) -> None:
        """The next ``count`` voice connections are accepted but never answered:
        no HTTP response, no upgrade, until the client gives up or the server stops."""
        _check_count("count", count)
        with self._lock:
            self._hangs += count

    def take_hang(self) -> bool:
        with self._lock:
            if self._hangs:
                self._hangs -= 1
                return True
            return False

    def close_after(
        self, chunks: int, *, code: int = 1011, reason: str = "", sessions: int | None = 1
    ) -> None:
        """Close the WebSocket with ``code`` (no ``session_ended``) after ``chunks``
        response chunks; 1000 and 1001 are normal closes, 1011 an abnormal one."""
        _check_point(chunks)
        _check_close_code(code)
        if len(reason.encode()) > 123:
            raise ValueError("reason must fit in 123 bytes")
        self._add_session(SessionFault("close", chunks, code=code, reason=reason), sessions)

    def drop_after(self, chunks: int, *, sessions: int | None = 1) -> None:
        """Abort the TCP connection (no close frame) after ``chunks`` response chunks."""
        _check_point(chunks)
        self._add_session(SessionFault("drop", chunks), sessions)

    def go_silent_after(self, chunks: int, *, sessions: int | None = 1) -> None:
        """After ``chunks`` response chunks, send nothing more and answer no pings,
        while keeping the connection open and still reading what the client sends."""
        _check_point(chunks)
        self._add_session(SessionFault("silence", chunks), sessions)

    def ignore_pings(self, *, after_chunks: int = 0, sessions: int | None = 1) -> None:
        """Stop answering the client's pings (everything else carries on)."""
        _check_point(after_chunks)
        self._add_session(SessionFault("ignore_pings", after_chunks), sessions)

    def send_oversized(self, size: int, *, after_chunks: int = 0, sessions: int | None = 1) -> None:
        """Send one text frame of exactly ``size`` bytes: a valid ``response_text``
        message padded out, so only its size is wrong."""
        _check_point(after_chunks)
        if size < 100:
            raise ValueError("size must be at least 100 bytes")
        self._add_session(SessionFault("oversized", after_chunks, size=size), sessions)

    def send_malformed(
        self, kind: MalformedKind, *, after_chunks: int = 0, sessions: int | None = 1
    ) -> None:
        """Send one malformed frame of the given ``kind``, then carry on normally."""
        _check_point(after_chunks)
        if kind not in get_args(MalformedKind):
            raise ValueError(f"unknown malformed frame kind {kind!r}")
        self._add_session(SessionFault("malformed", after_chunks, kind=kind), sessions)

    def _add_session(self, fault: SessionFault, sessions: int | None) -> None:
        _check_sessions(sessions)
        with self._lock:
            self._sessions.append(_ArmedSessionFault(fault, sessions))

    def take_session(self) -> list[SessionFault]:
        """The faults a newly opened session must apply, ordered by their point."""
        taken: list[SessionFault] = []
        with self._lock:
            for armed in list(self._sessions):
                taken.append(armed.fault)
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._sessions.remove(armed)
        return sorted(taken, key=lambda f: f.after_chunks)

    def reset(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._rest.clear()
            self._sessions.clear()
            self._hangs = 0
