"""Everything the REST clients decide without doing I/O.

Building requests, choosing whether and when to retry, turning a status into an
exception and a body into a model all live here, once; ``Client`` and
``AsyncClient`` only send and sleep.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import math
import os
import random
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast
from urllib.parse import quote, urlsplit

import httpx

from ._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ERROR_BODY_LIMIT,
    ERROR_MESSAGE_LIMIT,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
)
from ._exceptions import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    status_error_class,
)
from ._json_body import load_json
from ._redact import REDACTED, known_secrets, redact_http_logs, redact_text, redact_url
from ._version import __version__

if TYPE_CHECKING:
    from ._http_pool import AsyncPool, Pool
    from ._model_checks import Invalid

log = logging.getLogger("vatel")
redact_http_logs()

T = TypeVar("T")

_NO_BODY: Any = object()

# Statuses that say the request was not carried out, so even a POST may be sent again.
_NOT_PROCESSED = frozenset({408, 429, 503})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures of the request itself, found before it left: sending it again fails the same way.
_NEVER_RETRIED = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)


class DeferredModule:
    """A module imported when an attribute is first read from it: annotations
    that name ``module.Name`` resolve at run time (``typing.get_type_hints``)
    without the module being loaded before a call needs it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name, __package__), attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


class _NotGiven:
    """Marks an option the caller did not pass (``None`` means "no timeout")."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Any = _NotGiven()

Timeout = float | httpx.Timeout | None


class APIRequest(Generic[T]):
    """One REST operation, ready to send: what to send and what to expect back."""

    # A plain class, not a dataclass: building one of those at import costs a
    # cold process (a token in a serverless function) about a millisecond.
    __slots__ = ("body", "cast", "method", "params", "parse", "path")

    def __init__(
        self,
        method: str,
        path: str,
        cast: Any = None,
        parse: Callable[[bytes], T] | None = None,
        params: Mapping[str, str] | None = None,
        body: Any = _NO_BODY,
    ) -> None:
        self.method = method
        self.path = path
        self.cast = cast
        """Type the JSON body is validated into; ``None`` for an empty (204) answer."""
        self.parse = parse
        """Reads the body itself instead of ``cast``, without the models; it raises
        :class:`ResponseRefused` for a body that breaks the contract."""
        self.params: Mapping[str, str] = {} if params is None else params
        self.body = body

    def __repr__(self) -> str:
        return f"APIRequest({self.method} {self.path})"


class ResponseRefused(ValueError):
    """Raised by an :attr:`APIRequest.parse` for a body that breaks the contract.

    The message says what is wrong without quoting the body; ``secrets`` are
    credentials found in it, kept out of the error the caller sees.
    """

    def __init__(self, message: str, secrets: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.secrets = tuple(secrets)


def path_segment(value: str, name: str) -> str:
    """``value`` made safe to place in a URL path; empty ids are a caller error."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _is_model(value: Any) -> bool:
    # The SDK's own models, or a caller's pydantic model. A pydantic model exists
    # only once pydantic has been imported: without it loaded there is nothing
    # to look for, and importing it here would cost every call.
    models = sys.modules.get("vatel._models_base")
    if models is not None and isinstance(value, models.VatelModel):
        return True
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: models dumped by wire name, sequences as lists."""
    if _is_model(value):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def query_value(value: Any) -> str:
    """A query parameter as the API expects it: booleans lower-case, lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ",".join(str(v) for v in value)
    return str(value)


def query_params(
    values: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Query parameters from keyword arguments, renamed through ``names`` and
    dropping those that are ``None``."""
    names = names or {}
    return {names.get(k, k): query_value(v) for k, v in values.items() if v is not None}


# -- retries --------------------------------------------------------------------


# Patterns stay text until first use (re caches them): a cold process that is
# never asked to wait does not compile them.
_DELTA_SECONDS = r"[0-9]+"
_MILLISECONDS = r"[0-9]+(?:\.[0-9]+)?"


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the server asked to wait, from ``Retry-After-Ms`` (ASCII digits,
    optionally with a fraction) or ``Retry-After`` (ASCII delta-seconds or an HTTP
    date); ``None`` when absent or in any other form (``1_0``, ``inf``, ``-4``,
    non-ASCII digits), which then counts as no request to wait."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None and re.fullmatch(_MILLISECONDS, raw_ms.strip()):
        wait = float(raw_ms) / 1000
        if math.isfinite(wait):
            return wait
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if re.fullmatch(_DELTA_SECONDS, raw):
        wait = float(raw)
        return wait if math.isfinite(wait) else None
    if not raw.isascii():
        return None
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    try:
        when = float(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter for retry number ``attempt`` (0-based):
    half of the delay is fixed, half random, so clients spread out but never
    hammer the server with near-zero waits."""
    ceiling = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_delay(
    method: str,
    attempt: int,
    max_retries: int,
    *,
    response: httpx.Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """How long to wait before retry number ``attempt``, or ``None`` to stop.

    Connection failures before the request was sent are retried for every
    method. Anything that may have reached the server (a read time-out, a reset
    after sending, a 500) is retried only for idempotent methods; a POST or
    PATCH is sent again only when the status says it was not processed.
    """
    if attempt >= max_retries:
        return None
    idempotent = method.upper() in _IDEMPOTENT
    if response is not None:
        status = response.status_code
        if status in _NOT_PROCESSED or (idempotent and status >= 500):
            wait = parse_retry_after(response.headers)
            if wait is None:
                return backoff_delay(attempt)
            return wait if wait <= MAX_RETRY_AFTER else None
        return None
    if isinstance(error, _NEVER_RETRIED):
        return None
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return backoff_delay(attempt)
    if isinstance(error, httpx.TransportError) and idempotent:
        return backoff_delay(attempt)
    return None


# -- responses ------------------------------------------------------------------


def error_message(status_code: int, body: str) -> str:
    """The ``error`` string of a ``{"error": ...}`` body, else the status's reason."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("error") or data.get("message")
        if isinstance(message, str) and message:
            return message
    try:
        from http import HTTPStatus

        return HTTPStatus(status_code).phrase
    except ValueError:
        return "HTTP error"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_headers(
    headers: httpx.Headers | Iterable[tuple[bytes, bytes]], secrets: Sequence[str | None] = ()
) -> httpx.Headers:
    """A copy of ``headers`` with every known secret, ``Bearer …`` credential and
    JWT-shaped value replaced by ``***``: a server may echo what it was sent."""
    pairs = headers.raw if isinstance(headers, httpx.Headers) else headers
    # Latin-1 maps every byte to one character and back, so nothing else changes.
    return httpx.Headers(
        [
            (
                redact_text(name.decode("latin-1"), *secrets).encode("latin-1"),
                redact_text(value.decode("latin-1"), *secrets).encode("latin-1"),
            )
            for name, value in pairs
        ]
    )


# Say how the body travelled on the wire, not how the copy kept on an error holds it.
_FRAMING_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


def _request_copy(response: httpx.Response, secrets: Sequence[str | None]) -> httpx.Request | None:
    try:
        original = response.request
    except RuntimeError:  # A response built without a request.
        return None
    headers = safe_headers(original.headers, secrets)
    for name in ("authorization", "proxy-authorization"):
        if name in headers:
            headers[name] = REDACTED
    url = redact_text(redact_url(str(original.url)), *secrets)
    return httpx.Request(original.method, url, headers=headers)


def _response_copy(
    response: httpx.Response, headers: httpx.Headers, body: str, secrets: Sequence[str | None]
) -> httpx.Response:
    """A small stand-alone copy of ``response`` to keep on its error: the status,
    the already redacted ``headers`` and kept ``body``, the request without its
    body or credentials; nothing of the original stays referenced."""
    kept = httpx.Headers([(k, v) for k, v in headers.raw if k.lower() not in _FRAMING_HEADERS])
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=body.encode("utf-8"),
        request=_request_copy(response, secrets),
    )


def make_status_error(
    status_code: int,
    body: str,
    *,
    headers: httpx.Headers | None = None,
    method: str | None = None,
    url: str | None = None,
    secrets: Sequence[str | None] = (),
    response: httpx.Response | None = None,
) -> APIStatusError:
    """The exception for a non-2xx answer, with every known secret removed.

    At most :data:`ERROR_BODY_LIMIT` characters of ``body`` are kept (and looked
    at), and the message is cut to :data:`ERROR_MESSAGE_LIMIT`. ``headers``
    default to those of ``response``; the error keeps a light copy of
    ``response`` (see :class:`vatel.APIStatusError`), never the response itself.
    """
    # Cut again after redaction: a replaced secret may be shorter or longer.
    body = redact_text(body[:ERROR_BODY_LIMIT], *secrets)[:ERROR_BODY_LIMIT]
    message = _shorten(redact_text(error_message(status_code, body), *secrets), ERROR_MESSAGE_LIMIT)
    if headers is None and response is not None:
        headers = response.headers
    retry_after = parse_retry_after(headers) if headers is not None else None
    kept_headers = safe_headers(headers if headers is not None else httpx.Headers(), secrets)
    request_id = kept_headers.get(REQUEST_ID_HEADER)
    return status_error_class(status_code)(
        message,
        status_code=status_code,
        body=body,
        method=method,
        url=_shorten(redact_text(url, *secrets), ERROR_MESSAGE_LIMIT) if url else None,
        retry_after=retry_after,
        headers=kept_headers,
        request_id=_shorten(request_id, ERROR_MESSAGE_LIMIT) if request_id else None,
        response=_response_copy(response, kept_headers, body, secrets) if response else None,
    )


def connection_error(
    error: Exception, method: str, url: str, secrets: Sequence[str | None] = ()
) -> APIConnectionError:
    """The SDK error for an httpx transport failure, with every known secret removed."""
    detail = _shorten(redact_text(str(error) or type(error).__name__, *secrets), 300)
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {method} {url} ({detail})")
    return APIConnectionError(f"Connection error: {method} {url} ({detail})")


def safe_cause(error: BaseException, secrets: Sequence[str | None]) -> BaseException | None:
    """``error`` to chain to the SDK's exception, or ``None`` when its text, or
    that of anything chained to it, holds a secret (it would print in a traceback)."""
    wanted = [s for s in secrets if s]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{current!r} {current}"
        if any(secret in text for secret in wanted) or redact_text(text) != text:
            return None
        current = current.__cause__ or current.__context__
    return error


class CappedBody:
    """The first ``limit`` bytes of an error body, decoded, from raw chunks.

    Content encodings are undone here, with the output bounded at every step, so
    a small compressed body cannot inflate into a large one. An encoding it does
    not know (``br``, ``zstd``) leaves the body empty rather than raw bytes.
    """

    def __init__(self, content_encoding: str | None, limit: int = ERROR_BODY_LIMIT) -> None:
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        encoding = (content_encoding or "identity").strip().lower()
        self._inflate: Any = None
        self._unknown = False
        if encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            self._unknown = True

    @property
    def full(self) -> bool:
        """Enough has arrived: the rest of the body is not needed."""
        return self._size >= self.limit or self._unknown

    def feed(self, raw: bytes) -> None:
        """One raw chunk off the wire."""
        room = self.limit - self._size
        if room <= 0 or self._unknown:
            return
        if self._inflate is None:
            data = raw[:room]
        else:
            try:
                data = self._inflate.decompress(raw, room)
            except zlib.error:
                self._unknown = True
                return
        self._chunks.append(data)
        self._size += len(data)

    def text(self) -> str:
        """What arrived, as text (undecodable bytes replaced)."""
        return b"".join(self._chunks).decode("utf-8", "replace")


@cache
def _checker(tp: Any) -> tuple[Callable[[Any], Any], type[Invalid]]:
    """The check of a response typed ``tp`` and the exception it raises; the
    models load with the first answer that needs them, not with the client."""
    from ._model_checks import Invalid
    from ._models_base import response_checker

    return response_checker(tp), Invalid


def parse_response(
    request: APIRequest[T], response: httpx.Response, secrets: Sequence[str | None] = ()
) -> T:
    """Read a successful response body with the request's ``parse``, or validate
    it into its ``cast`` type."""
    content = response.content
    if request.parse is not None:
        try:
            return request.parse(content)
        except ResponseRefused as exc:
            detail = str(exc)
            secrets = (*secrets, *exc.secrets)
    elif request.cast is None:
        return cast(T, None)
    else:
        # Wire names only: an unknown field that happens to be spelt like one of
        # our Python names (``tool_name`` beside ``toolName``) stays an extra.
        check, invalid = _checker(request.cast)
        data, refused = load_json(content)
        if refused is None:
            try:
                return cast(T, check(data))
            except invalid as bad:
                where, message, _ = bad.problems[0]
                count = bad.count
            detail = f"{'.'.join(map(str, where)) or 'body'}: {message} ({count} error(s))"
        else:
            detail = f"body: Invalid JSON: {refused} (1 error(s))"
    # Raised outside any handler: a decoder's error may quote the body, which
    # may be a session-token response, so it must not stay on as __context__.
    # The credentials stay out of the kept body too, wherever in it they are.
    text = redact_text(content[:2000].decode("utf-8", "replace"), *secrets)
    detail = _shorten(redact_text(detail, *secrets), ERROR_MESSAGE_LIMIT)
    raise APIResponseValidationError(
        f"Response to {request.method} {request.path} does not match the contract: {detail}",
        status_code=response.status_code,
        body=text,
    )


# -- time-outs --------------------------------------------------------------------


def attempt_budget(timeout: Timeout) -> float | None:
    """Seconds one attempt may take in all, connecting, sending, waiting and
    reading the body: a number as is; for an :class:`httpx.Timeout` the longest
    of its phases; ``None`` (no bound) when any phase is unbounded."""
    if timeout is None or isinstance(timeout, (int, float)):
        return None if timeout is None else float(timeout)
    phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    if any(phase is None for phase in phases):
        return None
    return max(cast(float, phase) for phase in phases)


class Deadline:
    """When one attempt must be over, on the clock it was read from."""

    __slots__ = ("at", "clock")

    def __init__(self, at: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        """The clock's reading at the deadline; ``None``: no deadline."""
        self.clock = clock

    @classmethod
    def after(cls, budget: float | None, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """The deadline ``budget`` seconds from now."""
        return cls(None if budget is None else clock() + budget, clock)

    def remaining(self) -> float | None:
        """Seconds left (0 once passed), or ``None`` without a deadline."""
        return None if self.at is None else max(0.0, self.at - self.clock())

    def cap(self, timeout: Timeout) -> Timeout:
        """``timeout`` with each phase cut to the time left, so a single stall
        cannot outlast the attempt."""
        left = self.remaining()
        if left is None:
            return timeout
        given = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        phases = (given.connect, given.read, given.write, given.pool)
        if None not in phases and max(cast(tuple[float, ...], phases)) <= left:
            return given  # the usual case, a first attempt: nothing to cut

        def phase(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=phase(given.connect),
            read=phase(given.read),
            write=phase(given.write),
            pool=phase(given.pool),
        )


def deadline_passed(
    budget: float | None, request: httpx.Request | None = None
) -> httpx.TimeoutException:
    """The transport error standing for an attempt that ran out of time."""
    limit = f"its {budget:g} s time-out" if budget is not None else "its time-out"
    return httpx.ReadTimeout(f"the answer did not arrive in full within {limit}", request=request)


# -- configuration -----------------------------------------------------------------

_HEADER_WHITESPACE = " \t\r\n\f\v"


def clean_api_key(raw: object) -> str:
    """The API key to send: surrounding whitespace (a key read from a file keeps
    its newline) is dropped; anything else that cannot travel in an HTTP header
    is refused, naming its position but not the key."""
    if not isinstance(raw, str):
        raise ConfigurationError(f"api_key must be a string, not {type(raw).__name__}.")
    key = raw.strip(_HEADER_WHITESPACE)
    if key.isascii() and key.isprintable() and " " not in key:
        return key
    offset = len(raw) - len(raw.lstrip(_HEADER_WHITESPACE))
    for index, char in enumerate(key):
        if "!" <= char <= "~":
            continue
        if char == " ":
            kind = "a space"
        elif char.isascii():
            kind = "a control character"
        else:
            kind = "a non-ASCII character"
        raise ConfigurationError(
            f"The API key has {kind} at position {offset + index + 1}; a key is printable "
            "ASCII without spaces. Check how it was copied or read (the key is not shown)."
        )
    raise AssertionError("unreachable")  # pragma: no cover


_BARE_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[^\s:/?#@\[\]]+)(?::[0-9]+)?(?:/[^?#]*)?"
_SCHEMES = ("http", "https")


def clean_base_url(raw: object) -> str:
    """``raw`` as the base URL requests go to, or a :class:`ConfigurationError`
    naming what is wrong. A bare host (``api.vatel.ai``, ``10.0.0.5:8443``) means
    ``https://``; a plain-HTTP server must be named with ``http://``."""
    if not isinstance(raw, str):
        raise ConfigurationError(f"base_url must be a string, not {type(raw).__name__}.")
    url = raw.strip(_HEADER_WHITESPACE)
    if not url:
        raise ConfigurationError("base_url is empty.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError("base_url has a space or a control character in it.")
    if "://" not in url:
        if not re.fullmatch(_BARE_HOST, url):
            raise ConfigurationError(
                "base_url must be an http:// or https:// URL, such as https://api.vatel.ai."
            )
        url = "https://" + url
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in _SCHEMES:
        shown = scheme if re.fullmatch(r"[A-Za-z][\w+.-]{0,15}", scheme) else "?"
        raise ConfigurationError(
            f"base_url must use http:// or https://, not {shown}:// (the voice "
            "sessions' ws(s):// URL is made from it)."
        )
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise ConfigurationError(
            "base_url must not hold a user name or password; pass the key as api_key."
        )
    if "?" in rest or "#" in rest:
        raise ConfigurationError("base_url must not have a query (?…) or a fragment (#…).")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        valid = False
    else:
        valid = True
    if not valid:
        raise ConfigurationError("base_url is not a valid URL: check its host and port.")
    if not parts.hostname:
        raise ConfigurationError("base_url has no host, as in https://api.vatel.ai.")
    if port == 0:
        raise ConfigurationError("base_url has port 0.")
    path = parts.path.rstrip("/")
    return f"{scheme.lower()}://{parts.netloc}{path}"


# -- the shared client state -----------------------------------------------------


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _warn_if_cleartext(base_url: str) -> None:
    """Plain HTTP is fine for a local mock server; anywhere else it is almost
    certainly a typo that would send the API key in the clear."""
    parts = httpx.URL(base_url)
    if parts.scheme == "http" and parts.host not in _LOOPBACK_HOSTS:
        log.warning(
            "base_url %s uses plain HTTP: the API key and session tokens travel unencrypted.",
            base_url,
        )


def _note_if_schemeless_loopback(given: str, base_url: str) -> None:
    """A bare ``localhost:8000`` is most likely a local plain-HTTP server, which
    ``https://`` will not reach: say what was assumed."""
    if "://" not in given and httpx.URL(base_url).host in _LOOPBACK_HOSTS:
        log.warning(
            "base_url %s has no scheme: using %s. Write http:// for a plain-HTTP local server.",
            given.strip(),
            base_url,
        )


class BaseClient:
    """Settings common to :class:`vatel.Client` and :class:`vatel.AsyncClient`."""

    api_key: str
    base_url: str
    max_retries: int
    timeout: Timeout
    trust_env: bool

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: Timeout | _NotGiven,
        max_retries: int,
        default_timeout: Timeout,
        trust_env: bool = True,
    ) -> None:
        raw_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        key = clean_api_key(raw_key) if raw_key is not None else ""
        if not key:
            raise ConfigurationError(
                f"No API key: pass api_key=... or set the {API_KEY_ENV} environment variable."
            )
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        self.api_key = key
        known_secrets.add(self, key)
        given = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.base_url = clean_base_url(given)
        _warn_if_cleartext(self.base_url)
        _note_if_schemeless_loopback(given, self.base_url)
        self.max_retries = max_retries
        self.timeout = default_timeout if isinstance(timeout, _NotGiven) else timeout
        self.trust_env = trust_env

    def __repr__(self) -> str:
        # The key is deliberately absent, not even partially shown.
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def _secrets(self) -> tuple[str]:
        return (self.api_key,)

    @property
    def _headers(self) -> dict[str, str]:
        # Worked out again only when the key changes; the pools recognise the
        # same dict and merge it with their defaults once.
        known = self._known_headers
        if known is None or known[0] is not self.api_key:
            headers = {
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": f"vatel-python/{__version__}",
            }
            known = self._known_headers = (self.api_key, headers)
        return known[1]

    _known_headers: tuple[str, dict[str, str]] | None = None

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _build_request(
        self, pool: Pool | AsyncPool, request: APIRequest[Any], timeout: Timeout
    ) -> httpx.Request:
        return pool.build_request(
            request.method,
            self._url(request.path),
            params=request.params or None,
            json=None if request.body is _NO_BODY else to_json(request.body),
            headers=self._headers,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        )

    def _status_error(
        self, request: APIRequest[Any], response: httpx.Response, body: str
    ) -> APIStatusError:
        return make_status_error(
            response.status_code,
            body,
            method=request.method,
            url=request.path,
            secrets=self._secrets,
            response=response,
        )

    def _connection_error(self, request: APIRequest[Any], error: Exception) -> APIConnectionError:
        return connection_error(error, request.method, self._url(request.path), self._secrets)

    def _retry_delay(
        self,
        request: APIRequest[Any],
        attempt: int,
        *,
        response: httpx.Response | None = None,
        error: Exception | None = None,
    ) -> float | None:
        delay = retry_delay(
            request.method, attempt, self.max_retries, response=response, error=error
        )
        if delay is not None:
            if response is not None:
                cause = f"status {response.status_code}"
            else:
                cause = _shorten(redact_text(repr(error), *self._secrets), 300)
            log.info(
                "Retrying %s %s in %.2f s (%s; retry %d of %d)",
                request.method,
                redact_url(request.path),
                delay,
                cause,
                attempt + 1,
                self.max_retries,
            )
        return delay
