"""Exceptions raised by the Vatel SDK.

Every error the SDK raises on purpose is a :class:`VatelError`. What the
server or the network did is an :class:`APIError`; the caller's own mistakes
sit beside it, and each is also the builtin exception it would be anywhere
else in Python, so ``except ValueError`` and ``except RuntimeError`` keep
working::

    VatelError
    ├── APIError                           the server or the network (remote)
    │   ├── APIStatusError                 the server answered with a non-2xx status
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── RateLimitError             429
    │   │   └── InternalServerError        5xx
    │   ├── APIConnectionError             no usable answer: DNS, refused, reset, TLS
    │   │   └── APITimeoutError            the request or handshake took too long
    │   ├── APIResponseValidationError     a 2xx answer that does not fit the contract
    │   ├── ConnectionClosedError          the voice session's WebSocket is closed
    │   ├── ProtocolError                  the server sent a frame the contract does not allow
    │   └── ResponseTooLargeError          a download over the caller's ``max_bytes``
    ├── ConfigurationError             (ValueError) a key, URL or option that cannot work
    ├── AudioFormatError               (ValueError) audio given to the SDK is not PCM16 24 kHz
    ├── ValidationError                (ValueError) a model built from values that do not fit it
    ├── ClientClosedError              (RuntimeError) a request through a closed client
    └── SessionEndedError              (RuntimeError) a command after the session ended

The local errors are raised before anything is sent, and each is also the
builtin named in brackets.

So ``except vatel.APIError`` is the place for retrying, reporting or waiting
out what went wrong elsewhere, and never hides a bug in the calling code;
``except vatel.VatelError`` catches both. There is deliberately no common
class for the local errors: each is a programming mistake to fix where it
is raised, and its builtin base already says what kind. Arguments of the wrong
type, or an empty id, raise the plain :class:`TypeError` / :class:`ValueError`
that any Python function would.

No message, attribute or ``args`` built here contains an API key or a session
token.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
else:

    class _LazyModule:
        """Stands for a module until one of its names is read: ``httpx`` costs a
        third of a second to import, and a voice session never needs it. Type
        hints such as ``httpx.Headers`` still resolve (``typing.get_type_hints``)."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

        def __repr__(self) -> str:
            return f"<module {self._name!r}, imported on first use>"

    httpx = _LazyModule("httpx")

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
    "ValidationError",
    "VatelError",
    "status_error_class",
]

REQUEST_ID_HEADER = "x-request-id"
"""The response header whose value :attr:`APIStatusError.request_id` holds."""


class VatelError(Exception):
    """Base class of every error the SDK raises on purpose."""


class APIError(VatelError):
    """Something went wrong on the server or on the way to it.

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

    ``headers`` are the response's headers (empty when unknown) and
    ``request_id`` the value of its ``x-request-id`` header, to quote when
    asking for support. ``response`` is a small copy of the REST response:
    status, headers, and the body as far as it was read (at most
    ``ERROR_BODY_LIMIT`` bytes, the same text as ``body``); ``None`` for a
    refused WebSocket handshake. Its ``request`` has the method and URL but no
    body, and its ``Authorization`` header is masked. A credential the server
    echoes in a header is replaced by ``***`` in all of them.
    """

    status_code: int
    body: str
    headers: httpx.Headers
    request_id: str | None
    response: httpx.Response | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        headers: httpx.Headers | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.method = method
        self.url = url
        self.retry_after = retry_after
        self.headers = httpx.Headers(headers)
        if request_id is None:
            request_id = self.headers.get(REQUEST_ID_HEADER) or None
        self.request_id = request_id
        self.response = response

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


class ProtocolError(APIError):
    """The server sent a frame the contract does not allow.

    The frame is kept in ``frame`` (truncated to 1,000 characters) so nothing is
    lost silently; the session itself stays usable.
    """

    def __init__(self, message: str, *, frame: str | bytes | None = None) -> None:
        super().__init__(message)
        self.frame: Any = frame[:1000] if frame is not None else None


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


# -- the caller's own mistakes ------------------------------------------------------


class ConfigurationError(VatelError, ValueError):
    """A setting that cannot work: an API key that is missing or has spaces or
    control characters in it, a base URL or voice session URL that is not a
    valid ``http(s)``/``ws(s)`` URL, a session token without its agent, or a
    time-out or retry count out of range.

    Raised before anything is sent. The message says what is wrong and where,
    but never repeats the key or the token.
    """


class AudioFormatError(VatelError, ValueError):
    """Audio handed to the SDK is not in the expected format (for instance an odd
    number of PCM16 bytes, invalid base64, or an unsupported WAV encoding)."""


class ValidationError(VatelError, ValueError):
    """A REST model (``vatel.types``) was built from values that do not fit it.

    ``errors()`` lists each problem as a dict with ``loc`` (the path to the
    field), ``msg`` and ``type``, in pydantic's words; ``error_count()`` says how
    many there are. No input value is quoted: a field may hold a credential.
    A server answer that does not fit is an :class:`APIResponseValidationError`
    instead, since the mistake is not the caller's.
    """

    def __init__(
        self,
        title: str,
        problems: list[tuple[tuple[str | int, ...], str, str]],
        count: int | None = None,
    ) -> None:
        self.title = title
        self._problems = list(problems)
        self._count = len(self._problems) if count is None else count
        count = self._count
        lines = [f"{count} validation error{'s' if count != 1 else ''} for {title}"]
        for loc, message, _ in self._problems[:20]:
            lines += [".".join(map(str, loc)) or "(root)", f"  {message}"]
        if count > 20:
            lines.append(f"… and {count - 20} more")
        super().__init__("\n".join(lines))

    def errors(self) -> list[dict[str, Any]]:
        """Each problem: ``{"loc": (...), "msg": ..., "type": ...}`` (the first 100)."""
        return [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in self._problems]

    def error_count(self) -> int:
        """How many problems were found."""
        return self._count


class ClientClosedError(VatelError, RuntimeError):
    """A request was made through a client (or its ``http_client``) that is closed."""


class SessionEndedError(VatelError, RuntimeError):
    """A command was given after the server ended the session (``session_ended``).

    Nothing is sent. ``code`` (1000), ``reason`` and ``ok`` (true) read as those
    of a normally closed session, for code that reports both the same way.
    """

    code: int
    reason: str
    message: str

    def __init__(self) -> None:
        self.message = (
            "The voice session has ended (the server sent session_ended); nothing more can be sent."
        )
        super().__init__(self.message)
        self.code = 1000
        self.reason = "session ended"

    @property
    def ok(self) -> bool:
        """Always true: the server ended the session normally."""
        return True
