"""Opening a voice session, minus the I/O: the URL, the WebSocket options, and
what a failed handshake or a close means in SDK terms."""

from __future__ import annotations

import dataclasses
import logging
import re
import ssl as ssl_module
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ConnectionClosedError,
    VatelError,
)
from ._redact import RedactingFilter, redact_text, redact_url

if TYPE_CHECKING:
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Close

    from ._session_token import SessionToken

__all__ = ["ConnectOptions", "SessionCredentials", "connection_url"]

CONNECTION_PATH = "/v1/connection"

ws_logger = logging.getLogger("vatel.websocket")
"""Handed to ``websockets`` (through a :class:`SessionLogger`), which logs the
handshake and every frame at DEBUG level: the filter is a last line of defence
for records that reach this logger some other way."""
ws_logger.addFilter(RedactingFilter())


class ConnectOptions(TypedDict, total=False):
    """Options for opening a voice session's WebSocket.

    Defaults: ``open_timeout`` 10 s, ``close_timeout`` 10 s, ``send_timeout``
    10 s, keepalive pings every ``ping_interval`` 20 s answered within
    ``ping_timeout`` 20 s, ``max_size`` 1 MiB per message, ``max_queue`` 16
    messages buffered before reading stops (so a slow reader pushes back on the
    socket instead of growing memory), ``compression`` off (audio frames barely
    compress and deflate costs CPU on every frame). ``ssl`` takes an
    :class:`ssl.SSLContext`; certificate checks cannot be switched off with a
    boolean.

    ``send_timeout``: a send (audio, a tool output, a keepalive ping) that the
    server does not take within this many seconds, because it stopped reading,
    raises :class:`vatel.APITimeoutError` and aborts the connection; later calls
    raise :class:`vatel.ConnectionClosedError` (code 1006). ``None`` waits
    forever.

    A server that vanishes without closing (a half-open connection) is noticed
    within ``ping_interval + ping_timeout + close_timeout`` seconds (50 s with
    the defaults): the unanswered ping fails the session with code 1011, which
    then waits ``close_timeout`` for the server's answer to its close frame.
    If even the ping cannot be written, ``send_timeout`` ends it sooner.

    ``proxy``: a proxy URL, ``None`` for none, or ``True`` for the environment's.
    Left out, the environment's ``HTTP_PROXY`` (ws://), ``HTTPS_PROXY`` (wss://),
    ``ALL_PROXY`` and ``NO_PROXY`` apply with the same rules as the REST client
    (httpx), unless ``trust_env`` is ``False``.

    Redirects are refused (:class:`vatel.APIStatusError` with the 3xx status):
    the URL carries the session token, which must not go to another address.
    """

    open_timeout: float | None
    close_timeout: float | None
    send_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_size: int | None
    max_queue: int
    compression: Literal["deflate"] | None
    additional_headers: Mapping[str, str]
    user_agent: str
    ssl: ssl_module.SSLContext
    proxy: str | Literal[True] | None
    trust_env: bool


DEFAULT_OPTIONS: dict[str, Any] = {
    "open_timeout": 10.0,
    "close_timeout": 10.0,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "max_size": 2**20,
    "max_queue": 16,
    "compression": None,
}

DEFAULT_SEND_TIMEOUT = 10.0
"""As long as opening or closing may take: a server that takes no audio for that
long has lost the conversation anyway, while a congested link gets a few seconds."""


@dataclass(frozen=True)
class DialPlan:
    """Everything needed to open one session: the checked URL, the keyword
    arguments for ``websockets``' ``connect``, and what the SDK itself enforces."""

    url: str
    token: str | None
    kwargs: dict[str, Any]
    send_timeout: float | None
    close_timeout: float | None

    def __repr__(self) -> str:
        return f"DialPlan({redact_url(self.url)!r})"


def plan_dial(url: str, options: ConnectOptions, user_agent: str) -> DialPlan:
    """Check ``url`` and ``options`` and turn them into a :class:`DialPlan`.

    Raises :class:`vatel.ConfigurationError` for a URL that cannot be a session
    URL or an option value out of range, and :class:`TypeError` for an unknown
    or mistyped option; none shows the token.
    """
    token = url_token(url)
    checked_url(url, token)
    unknown = set(options) - set(ConnectOptions.__annotations__)
    if unknown:
        raise TypeError(f"Unknown connect option(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {
        **DEFAULT_OPTIONS,
        "logger": SessionLogger(ws_logger, token),
    }
    send_timeout: float | None = DEFAULT_SEND_TIMEOUT
    trust_env = True
    for name, value in options.items():
        if name == "ssl":
            if not isinstance(value, ssl_module.SSLContext):
                raise TypeError(
                    "ssl must be an ssl.SSLContext; certificate verification stays on "
                    "unless that context turns it off."
                )
            kwargs["ssl"] = value
        elif name == "user_agent":
            kwargs["user_agent_header"] = value
        elif name == "additional_headers":
            kwargs["additional_headers"] = dict(value)  # type: ignore[call-overload]
        elif name == "send_timeout":
            send_timeout = _timeout_option(name, value)
        elif name == "trust_env":
            trust_env = bool(value)
        else:
            kwargs[name] = value
    kwargs.setdefault("user_agent_header", user_agent)
    proxy = kwargs.get("proxy", True if trust_env else None)
    kwargs["proxy"] = environment_proxy(url) if proxy is True else proxy
    return DialPlan(url, token, kwargs, send_timeout, kwargs["close_timeout"])


def _timeout_option(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not value > 0:
        raise ConfigurationError(
            f"{name} must be above 0 seconds (or None for no limit), got {value!r}"
        )
    return float(value)


def checked_url(url: str, token: str | None = None) -> None:
    """Raise :class:`vatel.ConfigurationError` unless ``url`` is a ``ws://`` or
    ``wss://`` URL with a host and a valid port (the message never shows the token).
    Nothing was sent: the caller's URL is wrong, the network has no part in it."""
    if not isinstance(url, str):
        raise TypeError(f"The voice session URL must be a str, got {type(url).__name__}")
    problem = ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("ws", "wss"):
            problem = "the scheme must be ws or wss"
        elif not parts.hostname:
            problem = "there is no host"
        elif parts.fragment:
            problem = "a session URL has no #fragment"
        elif any(ord(c) < 33 or ord(c) == 127 for c in url):
            problem = "it contains spaces or control characters"
    if problem:
        safe = redact_text(redact_url(url), token)
        detail = redact_text(problem, token)
        raise ConfigurationError(f"Invalid voice session URL ({detail}): {safe}")


def environment_proxy(url: str) -> str | None:
    """The proxy the REST client (httpx, ``trust_env``) would use for ``url``,
    asked as http:// for ws:// and https:// for wss://; ``None`` for none."""
    parts = urlsplit(url)
    http_url = urlunsplit(parts._replace(scheme="https" if parts.scheme == "wss" else "http"))
    try:
        import httpx
        from httpx._utils import URLPattern, get_environment_proxies
    except ImportError:  # pragma: no cover - an httpx without these helpers
        import urllib.request

        found = urllib.request.getproxies()
        if urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        return found.get(urlsplit(http_url).scheme) or found.get("all")
    target = httpx.URL(http_url)
    # httpx tries its patterns most specific first, as sorting them does here.
    mounts = sorted(
        ((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()),
        key=lambda mount: mount[0],
    )
    for pattern, proxy in mounts:
        if pattern.matches(target):
            return proxy
    return None


class SessionLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger handed to ``websockets`` for one session: every record it
    writes has that session's token replaced by ``***``, wherever it appears —
    the handshake, a response header, a frame, a close reason, a traceback."""

    def __init__(self, logger: logging.Logger, token: str | None) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in {token, _quoted(token)} if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % tuple(_scrubbed(a, self._secrets) for a in args) if args else str(msg)
        except Exception:  # A record that cannot format is still logged, safely.
            text = f"{msg} {args!r}"
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            # The traceback is written out here so that it is redacted too.
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            if exc_info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*exc_info)).rstrip()
        kwargs.setdefault("stacklevel", 2)  # the record names websockets' line, not this one
        self.logger.log(level, "%s", redact_text(text, *self._secrets), **kwargs)


def _quoted(token: str | None) -> str | None:
    # How the token reads in the request line when it had to be percent-encoded.
    if not token:
        return None
    return urlencode({"t": token})[2:]


def _scrubbed(arg: object, secrets: tuple[str, ...]) -> object:
    # websockets logs frames as objects; redact the payload before it is elided
    # for the log line, or a cut-off token would slip through.
    data = getattr(arg, "data", None)
    if (
        secrets
        and isinstance(data, (bytes, bytearray, memoryview))
        and dataclasses.is_dataclass(arg)
    ):
        payload = bytes(data)
        for secret in secrets:
            payload = payload.replace(secret.encode(), b"***")
        return dataclasses.replace(arg, data=payload)  # type: ignore[type-var]
    return arg


@dataclass(frozen=True)
class SessionCredentials:
    """A session token with the ids that go beside it on the URL."""

    token: str
    agent_id: str | None = None
    version_id: str | None = None

    @classmethod
    def of(
        cls,
        token: SessionToken | str,
        agent_id: str | None = None,
        version_id: str | None = None,
    ) -> SessionCredentials:
        """Credentials from a :class:`SessionToken` or a token string; explicit
        ids win over those the token remembers or carries in its claims.

        Raises :class:`vatel.ConfigurationError` (a :class:`ValueError`) when the
        token is empty or the agent is known from none of them: the server
        refuses a session without ``agentId``.
        """
        if isinstance(token, str):
            value = token
        else:
            value = token.token
            agent_id = agent_id or token.agent_id
            version_id = version_id or token.version_id
        if not value:
            raise ConfigurationError("The session token is empty.")
        if not agent_id or not version_id:
            from ._session_token import _jwt_claims

            claims = _jwt_claims(value)
            agent_id = agent_id or _claim(claims, "agent_id", "agentId")
            version_id = version_id or _claim(claims, "version_id", "versionId")
        if not agent_id:
            raise ConfigurationError(
                "The agent of this session is unknown: pass agent_id= (the agent the "
                "token was minted for), or pass the SessionToken from "
                "client.session_token() rather than its token string."
            )
        return cls(value, agent_id, version_id)

    def __repr__(self) -> str:
        return f"SessionCredentials(agent_id={self.agent_id!r}, version_id={self.version_id!r})"


def _claim(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def connection_url(base_url: str, credentials: SessionCredentials) -> str:
    """``base_url`` turned into the session's WebSocket URL (http→ws, https→wss)."""
    try:
        parts = urlsplit(base_url)
    except ValueError as exc:
        raise ConfigurationError(
            f"base_url is not a valid URL ({exc}): {redact_url(base_url)!r}"
        ) from None
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {redact_url(base_url)!r}")
    query = [("token", credentials.token)]
    if credentials.agent_id:
        query.append(("agentId", credentials.agent_id))
    if credentials.version_id:
        query.append(("versionId", credentials.version_id))
    path = parts.path.rstrip("/") + CONNECTION_PATH
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


_TOKEN_IN_URL = re.compile(r"[?&]token=([^&#\s]+)")


def url_token(url: str) -> str | None:
    """The ``token`` query parameter of a session URL, to keep it out of errors
    and logs (found even in a URL too malformed to parse)."""
    if not isinstance(url, str):
        return None
    try:
        query = urlsplit(url).query
    except ValueError:
        match = _TOKEN_IN_URL.search(url)
        return match.group(1) if match else None
    for name, value in parse_qsl(query):
        if name == "token":
            return value
    return None


class RedirectRefused(Exception):
    """Raised in place of following a 3xx answer to the opening handshake."""

    def __init__(
        self,
        status_code: int,
        location: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(f"redirect {status_code}")
        self.status_code = status_code
        self.location = location
        self.body = body
        self.headers = headers or []

    @classmethod
    def of(cls, exc: Exception) -> RedirectRefused | None:
        """The refusal for a handshake ``exc`` that was a 3xx answer, else ``None``."""
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if response is None or not isinstance(status, int) or not 300 <= status < 400:
            return None
        location = response.headers.get("Location", "")
        return cls(status, location, bytes(response.body or b""), raw_headers(response.headers))


def raw_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    """The name and value bytes of a ``websockets`` handshake's headers, as they
    came: values were decoded as Latin-1 (older releases: ASCII, keeping other
    bytes as surrogate escapes), which this undoes either way."""
    return [
        (name.encode("latin-1", "surrogateescape"), value.encode("latin-1", "surrogateescape"))
        for name, value in headers.raw_items()
    ]


def handshake_error(exc: BaseException, url: str, open_timeout: float | None) -> VatelError | None:
    """The SDK error for a failure while opening the WebSocket, or ``None`` when
    the exception is not one the SDK translates. A refused handshake's error
    carries the answer's headers and request id (``response`` is ``None``:
    that is for REST answers)."""
    # Imported here, on the failure path: neither the REST plumbing (httpx,
    # pydantic) nor asyncio (for a sync session) is needed to open a session.
    import asyncio

    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

    token = url_token(url)
    safe_url = redact_url(url)
    path = urlsplit(safe_url).path
    secrets = (token, _quoted(token))
    if isinstance(exc, RedirectRefused):
        from ._base_client import safe_headers
        from ._constants import ERROR_BODY_LIMIT

        where = redact_text(redact_url(exc.location), *secrets) or "nowhere"
        body = exc.body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        return APIStatusError(
            f"The server redirected the voice session to {where}; redirects are refused "
            "because the URL carries the session token. Connect to that address "
            "yourself if you trust it.",
            status_code=exc.status_code,
            body=redact_text(body, *secrets),
            method="GET",
            url=path,
            headers=safe_headers(exc.headers, secrets),
        )
    if isinstance(exc, InvalidStatus):
        from ._base_client import make_status_error, safe_headers
        from ._constants import ERROR_BODY_LIMIT

        response = exc.response
        body = bytes(response.body or b"")[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        return make_status_error(
            response.status_code,
            body,
            headers=safe_headers(raw_headers(response.headers), secrets),
            method="GET",
            url=path,
            secrets=secrets,
        )
    if isinstance(exc, InvalidURI):
        return ConfigurationError(f"Invalid voice session URL: {safe_url}")
    # Before Python 3.11 asyncio raised its own TimeoutError class.
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        after = f" after {open_timeout:g} s" if open_timeout else ""
        return APITimeoutError(f"Timed out opening the voice session{after}: {safe_url}")
    if isinstance(exc, (InvalidHandshake, OSError, EOFError)):
        detail = redact_text(str(exc) or type(exc).__name__, token)
        return APIConnectionError(f"Could not open the voice session at {safe_url}: {detail}")
    return None


def first_close(
    rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None
) -> tuple[int, str]:
    """The code and reason of whichever side closed first; 1006 and no reason
    when no close frame went either way (the connection just dropped)."""
    frame = rcvd if rcvd_then_sent is not False else sent
    frame = frame or rcvd or sent
    if frame is None:
        return 1006, ""
    return frame.code, frame.reason


def closed_error(exc: ConnectionClosed, token: str | None = None) -> ConnectionClosedError:
    """The SDK error for a closed WebSocket, with the close code and reason of
    whichever side closed first (1006 when the connection just dropped); a
    reason echoing ``token`` has it replaced by ``***``."""
    code, reason = first_close(exc.rcvd, exc.sent, exc.rcvd_then_sent)
    if code == 1006 and not reason:
        return ConnectionClosedError(
            1006, message="Voice session connection dropped without a close frame (code 1006)."
        )
    return ConnectionClosedError(code, redact_text(reason, token) if reason else reason)


def send_timeout_error(send_timeout: float | None) -> APITimeoutError:
    """The SDK error for a send the server did not take in time."""
    limit = f"{send_timeout:g} s" if send_timeout is not None else "the close time-out"
    return APITimeoutError(
        f"The voice session server took no data for {limit} (send_timeout); "
        "the connection was aborted."
    )
