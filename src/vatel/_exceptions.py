"""Exceptions raised by the Vatel SDK.

Every error the SDK raises on purpose is an :class:`APIError`::

    APIError
    ├── APIStatusError                 the server answered with a non-2xx status
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409
    │   ├── RateLimitError             429
    │   └── InternalServerError        5xx
    ├── APIConnectionError             no usable answer: DNS, refused, reset, TLS
    │   └── APITimeoutError            the request or handshake took too long
    ├── APIResponseValidationError     a 2xx answer that does not fit the contract
    ├── ConnectionClosedError          the voice session's WebSocket is closed
    │   └── SessionEndedError          a command after the session ended (nothing sent)
    ├── ProtocolError                  the server sent a frame the contract does not allow
    ├── AudioFormatError               audio given to the SDK is not PCM16 24 kHz mono
    └── ResponseTooLargeError          a download over the caller's ``max_bytes``

Errors caused by the server (remote) and errors caused by the caller (local,
:class:`AudioFormatError`, which is also a :class:`ValueError`) are kept apart.
Two local errors stand outside the tree, since no request was made:
:class:`ConfigurationError` (a :class:`ValueError`: a client was given an API key
or base URL that cannot work) and :class:`ClientClosedError` (a
:class:`RuntimeError`: a request on a closed client).
No message built here contains an API key or a session token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AudioFormatError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionClosedError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ResponseTooLargeError",
    "SessionEndedError",
    "status_error_class",
]


class APIError(Exception):
    """Base class of every error the SDK raises.

    ``status_code`` and ``body`` are set when the error came with an HTTP
    response (REST, or a refused WebSocket handshake) and are ``None`` otherwise.
    """

    message: str
    status_code: int | None
    body: str | None

    def __init__(
        self, message: str, *, status_code: int | None = None, body: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body

    def __str__(self) -> str:
        return self.message


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``message`` is the ``error`` string of a ``{"error": ...}`` body when there
    is one, otherwise a short description of the status. ``retry_after`` holds
    the server's ``Retry-After`` delay in seconds, when it sent one.
    """

    status_code: int
    body: str

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.method = method
        self.url = url
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.status_code} {self.message}{where}"


class BadRequestError(APIStatusError):
    """400: the request was malformed or failed validation."""


class AuthenticationError(APIStatusError):
    """401: the API key or session token is missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not act on this resource."""


class NotFoundError(APIStatusError):
    """404: no such resource for this organization."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state (e.g. already published)."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""


class InternalServerError(APIStatusError):
    """5xx: the server failed to carry out a valid request."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for a non-2xx ``status_code``."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


class APIConnectionError(APIError):
    """The request got no usable answer: the host was unreachable, the connection
    was refused or reset, TLS failed, or the body was cut short."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The request, or the WebSocket opening handshake, timed out."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


class APIResponseValidationError(APIError):
    """A successful response whose body does not match the contract's schema."""

    def __init__(self, message: str, *, status_code: int, body: str) -> None:
        super().__init__(message, status_code=status_code, body=body)


class ConnectionClosedError(APIError):
    """The voice session's WebSocket is closed.

    ``code`` and ``reason`` are those of the close frame; ``code`` is 1006 when
    the connection dropped without one.
    """

    def __init__(self, code: int, reason: str = "", *, message: str | None = None) -> None:
        detail = f"code {code}" + (f", reason {reason!r}" if reason else "")
        super().__init__(message or f"Voice session connection closed ({detail}).")
        self.code = code
        self.reason = reason

    @property
    def ok(self) -> bool:
        """True when the close was normal (1000 or 1001)."""
        return self.code in (1000, 1001)


class SessionEndedError(ConnectionClosedError):
    """A command was given after the server ended the session (``session_ended``).

    Nothing is sent. It is a :class:`vatel.ConnectionClosedError` (code 1000, a
    normal end), so code that already handles a closed session handles this too.
    """

    def __init__(self) -> None:
        super().__init__(
            1000,
            "session ended",
            message="The voice session has ended (the server sent session_ended); "
            "nothing more can be sent.",
        )


class ProtocolError(APIError):
    """The server sent a frame the contract does not allow.

    The frame is kept in ``frame`` (truncated to 1,000 characters) so nothing is
    lost silently; the session itself stays usable.
    """

    def __init__(self, message: str, *, frame: str | bytes | None = None) -> None:
        super().__init__(message)
        self.frame: Any = frame[:1000] if frame is not None else None


class AudioFormatError(APIError, ValueError):
    """Audio handed to the SDK is not in the expected format (for instance an odd
    number of PCM16 bytes, invalid base64, or an unsupported WAV encoding)."""


class ConfigurationError(ValueError):
    """A client was given a setting that cannot work: an API key with spaces or
    control characters in it, or a base URL that is not an ``http(s)`` URL.

    Raised when the client is built, before anything is sent. The message says
    what is wrong and where, but never repeats the key.
    """


class ClientClosedError(RuntimeError):
    """A request was made through a client (or its ``http_client``) that is closed."""


class ResponseTooLargeError(APIError):
    """A download was larger than the caller's ``max_bytes``; nothing was kept.

    ``limit`` is the caller's limit; ``size`` the size the server announced, or
    ``None`` when it announced none and the download was stopped past the limit.
    """

    limit: int
    size: int | None

    def __init__(self, limit: int, size: int | None) -> None:
        if size is None:
            message = f"Download stopped: more than max_bytes={limit:,} bytes arrived."
        else:
            message = (
                f"Download refused: the server announced {size:,} bytes, over max_bytes={limit:,}."
            )
        super().__init__(message)
        self.limit = limit
        self.size = size
