"""Everything the REST clients decide without doing I/O.

Building requests, choosing whether and when to retry, turning a status into an
exception and a body into a model all live here, once; ``Client`` and
``AsyncClient`` only send and sleep.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx
import pydantic

from ._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    status_error_class,
)
from ._redact import redact_text
from ._version import __version__

log = logging.getLogger("vatel")

T = TypeVar("T")

_NO_BODY: Any = object()

# Statuses that say the request was not carried out, so even a POST may be sent again.
_NOT_PROCESSED = frozenset({408, 429, 503})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _NotGiven:
    """Marks an option the caller did not pass (``None`` means "no timeout")."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Any = _NotGiven()

Timeout = float | httpx.Timeout | None


@dataclass(frozen=True)
class APIRequest(Generic[T]):
    """One REST operation, ready to send: what to send and what to expect back."""

    method: str
    path: str
    cast: Any = None
    """Type the JSON body is validated into; ``None`` for an empty (204) answer."""
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = _NO_BODY


def path_segment(value: str, name: str) -> str:
    """``value`` made safe to place in a URL path; empty ids are a caller error."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: models dumped by wire name, sequences as lists."""
    if isinstance(value, pydantic.BaseModel):
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


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the server asked to wait, from ``Retry-After-Ms`` or ``Retry-After``
    (delta-seconds or an HTTP date); ``None`` when absent or unreadable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    when = float(email.utils.mktime_tz(parsed))
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


def make_status_error(
    status_code: int,
    body: str,
    *,
    headers: httpx.Headers | None = None,
    method: str | None = None,
    url: str | None = None,
    secrets: Sequence[str | None] = (),
) -> APIStatusError:
    """The exception for a non-2xx answer, with every known secret removed."""
    body = redact_text(body, *secrets)
    message = redact_text(error_message(status_code, body), *secrets)
    retry_after = parse_retry_after(headers) if headers is not None else None
    return status_error_class(status_code)(
        message,
        status_code=status_code,
        body=body,
        method=method,
        url=redact_text(url, *secrets) if url else None,
        retry_after=retry_after,
    )


def connection_error(error: Exception, method: str, url: str) -> APIConnectionError:
    """The SDK error for an httpx transport failure."""
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {method} {url} ({detail})")
    return APIConnectionError(f"Connection error: {method} {url} ({detail})")


@cache
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def parse_response(request: APIRequest[T], response: httpx.Response) -> T:
    """Validate a successful response body into the request's ``cast`` type."""
    if request.cast is None:
        return cast(T, None)
    content = response.content
    try:
        # Wire names only: an unknown field that happens to be spelt like one of
        # our Python names (``tool_name`` beside ``toolName``) stays an extra.
        adapter = _adapter(request.cast)
        return cast(T, adapter.validate_json(content, by_alias=True, by_name=False))
    except pydantic.ValidationError as exc:
        # The body may be a session-token response: its credentials stay out.
        text = redact_text(content[:2000].decode("utf-8", "replace"))
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise APIResponseValidationError(
            f"Response to {request.method} {request.path} does not match the contract: "
            f"{where}: {first['msg']} ({exc.error_count()} error(s))",
            status_code=response.status_code,
            body=text,
        ) from None


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


def _strip_trailing_slash(url: str) -> str:
    return url[:-1] if url.endswith("/") else url


class BaseClient:
    """Settings common to :class:`vatel.Client` and :class:`vatel.AsyncClient`."""

    api_key: str
    base_url: str
    max_retries: int
    timeout: Timeout

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: Timeout | _NotGiven,
        max_retries: int,
        default_timeout: Timeout,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not api_key:
            raise APIError(
                f"No API key: pass api_key=... or set the {API_KEY_ENV} environment variable."
            )
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.api_key = api_key
        base_url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.base_url = _strip_trailing_slash(base_url)
        _warn_if_cleartext(self.base_url)
        self.max_retries = max_retries
        self.timeout = default_timeout if isinstance(timeout, _NotGiven) else timeout

    def __repr__(self) -> str:
        # The key is deliberately absent, not even partially shown.
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"vatel-python/{__version__}",
        }

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _build_request(
        self, http: httpx.Client | httpx.AsyncClient, request: APIRequest[Any]
    ) -> httpx.Request:
        return http.build_request(
            request.method,
            self._url(request.path),
            params=request.params or None,
            json=None if request.body is _NO_BODY else to_json(request.body),
            headers=self._headers,
            timeout=self.timeout,
        )

    def _status_error(self, request: APIRequest[Any], response: httpx.Response) -> APIStatusError:
        return make_status_error(
            response.status_code,
            response.text,
            headers=response.headers,
            method=request.method,
            url=request.path,
            secrets=(self.api_key,),
        )

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
            cause = f"status {response.status_code}" if response is not None else repr(error)
            log.info(
                "Retrying %s %s in %.2f s (%s; retry %d of %d)",
                request.method,
                request.path,
                delay,
                cause,
                attempt + 1,
                self.max_retries,
            )
        return delay
