"""Opening a voice session, minus the I/O: the URL, the WebSocket options, and
what a failed handshake or a close means in SDK terms."""

from __future__ import annotations

import logging
import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._exceptions import APIConnectionError, APIError, APITimeoutError, ConnectionClosedError
from ._redact import RedactingFilter, redact_text, redact_url

if TYPE_CHECKING:
    from websockets.exceptions import ConnectionClosed

    from ._session_token import SessionToken

__all__ = ["ConnectOptions", "SessionCredentials", "connection_url"]

CONNECTION_PATH = "/v1/connection"

ws_logger = logging.getLogger("vatel.websocket")
"""Handed to ``websockets``, which logs the handshake request line (and with it
the session token) at DEBUG level: the filter rewrites every record first."""
ws_logger.addFilter(RedactingFilter())


class ConnectOptions(TypedDict, total=False):
    """Options for opening a voice session's WebSocket.

    Defaults: ``open_timeout`` 10 s, ``close_timeout`` 10 s, keepalive pings every
    ``ping_interval`` 20 s answered within ``ping_timeout`` 20 s, ``max_size``
    1 MiB per message, ``max_queue`` 16 messages buffered before reading stops
    (so a slow reader pushes back on the socket instead of growing memory),
    ``compression`` off (audio frames barely compress and deflate costs CPU on
    every frame). ``ssl`` takes an :class:`ssl.SSLContext`; certificate checks
    cannot be switched off with a boolean.
    """

    open_timeout: float | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    max_size: int | None
    max_queue: int
    compression: Literal["deflate"] | None
    additional_headers: Mapping[str, str]
    user_agent: str
    ssl: ssl_module.SSLContext
    proxy: str | Literal[True] | None


DEFAULT_OPTIONS: dict[str, Any] = {
    "open_timeout": 10.0,
    "close_timeout": 10.0,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "max_size": 2**20,
    "max_queue": 16,
    "compression": None,
}


def websocket_kwargs(options: ConnectOptions, user_agent: str) -> dict[str, Any]:
    """Keyword arguments for ``websockets``' ``connect`` from SDK options."""
    unknown = set(options) - set(ConnectOptions.__annotations__)
    if unknown:
        raise TypeError(f"Unknown connect option(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {**DEFAULT_OPTIONS, "logger": ws_logger}
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
        else:
            kwargs[name] = value
    kwargs.setdefault("user_agent_header", user_agent)
    return kwargs


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
        ids win over those the token remembers."""
        if isinstance(token, str):
            value = token
        else:
            value = token.token
            agent_id = agent_id or token.agent_id
            version_id = version_id or token.version_id
        if not value:
            raise ValueError("The session token is empty.")
        return cls(value, agent_id, version_id)

    def __repr__(self) -> str:
        return f"SessionCredentials(agent_id={self.agent_id!r}, version_id={self.version_id!r})"


def connection_url(base_url: str, credentials: SessionCredentials) -> str:
    """``base_url`` turned into the session's WebSocket URL (http→ws, https→wss)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {redact_url(base_url)!r}")
    query = [("token", credentials.token)]
    if credentials.agent_id:
        query.append(("agentId", credentials.agent_id))
    if credentials.version_id:
        query.append(("versionId", credentials.version_id))
    path = parts.path.rstrip("/") + CONNECTION_PATH
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


def url_token(url: str) -> str | None:
    """The ``token`` query parameter of a session URL, to keep it out of errors."""
    for name, value in parse_qsl(urlsplit(url).query):
        if name == "token":
            return value
    return None


def handshake_error(exc: BaseException, url: str, open_timeout: float | None) -> APIError | None:
    """The SDK error for a failure while opening the WebSocket, or ``None`` when
    the exception is not one the SDK translates."""
    # Imported here, on the failure path: neither the REST plumbing (httpx,
    # pydantic) nor asyncio (for a sync session) is needed to open a session.
    import asyncio

    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

    from ._base_client import make_status_error

    token = url_token(url)
    safe_url = redact_url(url)
    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"").decode("utf-8", "replace")
        return make_status_error(
            response.status_code,
            body,
            method="GET",
            url=urlsplit(safe_url).path,
            secrets=(token,),
        )
    if isinstance(exc, InvalidURI):
        return APIConnectionError(f"Invalid voice session URL: {safe_url}")
    # Before Python 3.11 asyncio raised its own TimeoutError class.
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        after = f" after {open_timeout:g} s" if open_timeout else ""
        return APITimeoutError(f"Timed out opening the voice session{after}: {safe_url}")
    if isinstance(exc, (InvalidHandshake, OSError, EOFError)):
        detail = redact_text(str(exc) or type(exc).__name__, token)
        return APIConnectionError(f"Could not open the voice session at {safe_url}: {detail}")
    return None


def closed_error(exc: ConnectionClosed) -> ConnectionClosedError:
    """The SDK error for a closed WebSocket, with the close code and reason of
    whichever side closed first (1006 when the connection just dropped)."""
    frame = exc.rcvd if exc.rcvd_then_sent is not False else exc.sent
    frame = frame or exc.rcvd or exc.sent
    if frame is None:
        return ConnectionClosedError(1006, "connection dropped without a close frame")
    return ConnectionClosedError(frame.code, frame.reason)
