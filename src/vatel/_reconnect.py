"""Opt-in reconnecting of a voice session, minus the I/O.

:class:`Reconnect` is the policy a caller passes as ``connect(...,
reconnect=...)``. :class:`Redial` is the state of one connection's redialing:
it decides whether a close calls for a redial, how long to wait before each
attempt, which dial errors end it, and when to give up. The connections do
the waiting and the dialing.

A redial opens a new session: the server sends a new ``session_started``
with a new id, and the protocol state starts over. Nothing sent while the
connection was down is replayed.
"""

from __future__ import annotations

import inspect
import random as random_module
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._events import Reconnected, Reconnecting
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ConnectionClosedError,
    VatelError,
)
from ._session_token import SessionToken

__all__ = ["RETRYABLE_CLOSE_CODES", "Reconnect", "Redial", "TokenSource"]

RETRYABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
"""Close codes after which a redial may help: the server went away or restarts
(1001, 1012), it failed or is overloaded (1011, 1013), or the connection
dropped (1005, 1006, 1015). 1000 is a session that ended: never redialled."""

TokenSource = Callable[[], SessionToken | str | Awaitable[SessionToken | str]]
"""What gives a fresh session token for each redial: a function returning a
:class:`vatel.SessionToken` or a token string (a coroutine function too, for
the asyncio flavour)."""


def _checked_number(name: str, value: object, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value >= low or (high is not None and not value <= high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Reconnect:
    """Redial a voice session that dropped (opt-in: ``connect(..., reconnect=Reconnect())``).

    After an abnormal close (codes in :data:`RETRYABLE_CLOSE_CODES`) or a
    network drop, the receiving side (``recv()``, iteration, ``run()``)
    delivers :class:`vatel.Reconnecting`, waits, dials again with a token from
    ``token_source`` and delivers :class:`vatel.Reconnected`; the new session's
    ``session_started`` follows. A close with 1000, a ``session_ended``, or a
    redial the server refuses with a 4xx (401 for an expired token, say) is
    never retried: that error is raised. After ``max_attempts`` failed dials
    in a row the original :class:`vatel.ConnectionClosedError` is raised, the
    last dial error as its ``__cause__``.

    The wait before attempt *n* is ``min(max_backoff, backoff * 2 ** (n - 1))``,
    shortened by a random part of up to ``jitter`` of it (so clients that
    dropped together do not all come back at once). ``clock``, ``sleep`` and
    ``random`` are injectable for tests; ``sleep`` may be a coroutine function
    for the asyncio flavour. Without a ``sleep`` of its own a connection waits
    in a way ``close()`` cuts short.

    ``token_source``: a function giving a fresh :class:`vatel.SessionToken` or
    token string (session tokens are short-lived). ``client.connect()`` mints
    one with ``client.session_token()`` when it is left out; ``vatel.connect()``
    then dials the same URL again.
    """

    token_source: TokenSource | None = None
    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], object] | None = field(default=None, repr=False)
    random: Callable[[], float] = field(default=random_module.random, repr=False)

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise TypeError(f"max_attempts must be an int, got {type(attempts).__name__}")
        if attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {attempts!r}")
        _checked_number("backoff", self.backoff, low=0.0)
        _checked_number("max_backoff", self.max_backoff, low=0.0)
        _checked_number("jitter", self.jitter, low=0.0, high=1.0)
        for name in ("token_source", "sleep"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, got {type(value).__name__}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before dial ``attempt`` (1 for the first)."""
        base = min(self.max_backoff, self.backoff * 2.0 ** min(attempt - 1, 64))
        return base * (1.0 - self.jitter * self.random())

    def with_token_source(self, source: TokenSource) -> Reconnect:
        """This policy, with ``source`` unless it has a token source already."""
        if self.token_source is not None:
            return self
        return Reconnect(
            source,
            self.max_attempts,
            self.backoff,
            self.max_backoff,
            self.jitter,
            self.clock,
            self.sleep,
            self.random,
        )


def checked_policy(reconnect: object) -> Reconnect | None:
    """``reconnect`` as given to ``connect()``: a :class:`Reconnect` or ``None``."""
    if reconnect is None or isinstance(reconnect, Reconnect):
        return reconnect
    raise TypeError(f"reconnect must be a vatel.Reconnect or None, got {type(reconnect).__name__}")


def refused(error: BaseException) -> bool:
    """Whether a dial error ends the redialing: the server answered and refused
    (a 4xx other than 429), or the caller's configuration cannot work."""
    if isinstance(error, APIStatusError):
        status = error.status_code
        return 400 <= status < 500 and status != 429
    return isinstance(error, ConfigurationError) or not isinstance(error, VatelError)


def retried(error: BaseException) -> bool:
    """Whether a dial error is worth another attempt: no answer, a time-out,
    a 429 or a 5xx."""
    return isinstance(error, (APIConnectionError, APIStatusError)) and not refused(error)


def url_with_token(url: str, token: SessionToken | str) -> str:
    """``url`` (a session URL) with ``token`` in place of its own; a
    :class:`SessionToken`'s agent and version replace those on the URL."""
    if isinstance(token, SessionToken):
        value, agent_id, version_id = token.token, token.agent_id, token.version_id
    elif isinstance(token, str):
        value, agent_id, version_id = token, None, None
    else:
        raise TypeError(
            f"token_source must return a SessionToken or a str, got {type(token).__name__}"
        )
    if not value:
        raise ConfigurationError("token_source returned an empty session token.")
    parts = urlsplit(url)
    replaced = {"token": value, "agentId": agent_id, "versionId": version_id}
    query = []
    for name, old in parse_qsl(parts.query, keep_blank_values=True):
        new = replaced.pop(name, None)
        query.append((name, new if new is not None else old))
    query.extend((name, new) for name, new in replaced.items() if new is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_awaitable(value: object) -> bool:
    return inspect.isawaitable(value)


class Redial:
    """Where one connection is in redialing; no I/O.

    ``on_close`` starts a round after a retryable close; each attempt either
    succeeds (``dialled``), fails and is retried (``failed`` gives the next
    :class:`Reconnecting`), or ends the round (``failed`` raises). The count
    of attempts starts over once a new connection has delivered an event, so
    a server that accepts and drops at once still runs out of attempts.
    """

    def __init__(self, policy: Reconnect) -> None:
        self.policy = policy
        self.attempt = 0
        self.code = 1006
        self.original: ConnectionClosedError | None = None
        self.down_since: float | None = None
        self.finished = False
        """The redialing gave up or was refused: the connection stays closed."""
        self.first: ConnectionClosedError | None = None
        """The close that started the current run of attempts."""
        self.proven = True
        """The current connection has delivered an event since it was dialled."""

    def on_event(self) -> None:
        """The current connection delivered an event: attempts start over."""
        self.proven = True
        self.first = None

    @property
    def down(self) -> bool:
        """A round is under way: the connection dropped and is not back yet."""
        return self.original is not None

    def wants(self, error: ConnectionClosedError) -> bool:
        """Whether a close with ``error`` calls for a redial."""
        return error.code in RETRYABLE_CLOSE_CODES

    def on_close(self, error: ConnectionClosedError) -> Reconnecting:
        """Start a round after ``error`` (which :meth:`wants`); the first event of it.

        A connection that dropped before delivering anything counts as one
        more failed attempt of the round before it: past ``max_attempts`` the
        first close of that round is raised, ``error`` as its cause."""
        if self.proven:
            self.attempt = 0
            self.original = error
            self.code = error.code
            self.down_since = self.policy.clock()
        else:
            self.original = self.first or error
            self.down_since = self.policy.clock()
        self.first = self.original
        self.proven = False
        self.attempt += 1
        if self.exhausted():
            raise self.give_up(error)
        return Reconnecting(self.attempt, self.code)

    def exhausted(self) -> bool:
        """The attempt about to be made is past ``max_attempts``."""
        return self.attempt > self.policy.max_attempts

    def next_delay(self) -> float:
        """Seconds to wait before the current attempt."""
        return self.policy.delay(self.attempt)

    def dialled(self) -> Reconnected:
        """The current attempt connected: the round is over."""
        since = self.down_since if self.down_since is not None else self.policy.clock()
        gap = max(0.0, self.policy.clock() - since)
        self.original = None
        self.down_since = None
        return Reconnected(gap)

    def failed(self, error: BaseException) -> Reconnecting:
        """The current attempt failed with ``error``: the next attempt's event.

        Raises ``error`` when it is a refusal, and the original close (``error``
        as its cause) once ``max_attempts`` attempts have failed."""
        if not retried(error):
            self.original = self.first = None
            self.finished = True
            raise error
        self.attempt += 1
        if self.exhausted():
            raise self.give_up(error)
        return Reconnecting(self.attempt, self.code)

    def give_up(self, last: BaseException | None) -> ConnectionClosedError:
        """The error to raise once the round ends without a connection."""
        original = self.first or self.original or ConnectionClosedError(self.code)
        self.original = self.first = None
        self.finished = True
        if last is not None:
            last.__context__ = None
        original.__cause__ = last
        original.__suppress_context__ = True
        return original
