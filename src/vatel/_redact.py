"""Keeping API keys and session tokens out of logs, reprs and messages."""

from __future__ import annotations

import logging
import re
import threading
import weakref
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Query parameters that carry credentials; session tokens travel in the
# WebSocket URL's query string.
_SECRET_PARAMS = frozenset({"token", "api_key", "apikey", "access_token", "key"})
# Text until first use (re caches it): compiling it at import would cost every
# cold process, most of which never log or fail.
_SECRET_IN_TEXT = (
    r"(?i)((?:token|api_key|apikey|access_token)=)[^&\s\"'#]+|(Bearer\s+)[^\s\"',]+"
    # JSON members that carry credentials, as in a session-token response body (the
    # value may be cut short when the body was).
    r"|(\"(?:token|webrtc_token|auth_token|api_key|apikey|access_token|\w*password)\"\s*:\s*\")"
    r"(?:[^\"\\]|\\.)*"
    # Anything shaped like a JWT, wherever it sits: a JSON header always encodes
    # to ``eyJ``. Cut-short tokens (no dots yet) are caught too.
    r"|(?<![\w-])(?-i:eyJ)[\w-]{4,}(?:\.[\w-]*){0,2}"
)

_SHORTEST_PARTIAL = 4
"""A text cut in the middle of a secret keeps this many of its characters at most."""


def redact_url(url: str) -> str:
    """``url`` with the values of credential query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.query:
        return url
    query = [
        (name, REDACTED if name.lower() in _SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _cut_secret_tail(text: str, secret: str) -> str:
    """``text`` without a trailing beginning of ``secret`` (a body cut mid-key)."""
    for size in range(min(len(secret) - 1, len(text)), _SHORTEST_PARTIAL - 1, -1):
        if text.endswith(secret[:size]):
            return text[:-size] + REDACTED
    return text


def redact_text(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret, ``token=…`` query value, ``Bearer …``
    credential, JSON credential member (``"token": "…"``) and JWT-shaped string
    replaced by ``***``. One pass of one pattern: linear in ``len(text)``."""
    for secret in secrets:
        if secret:
            text = _cut_secret_tail(text.replace(secret, REDACTED), secret)
    return re.sub(_SECRET_IN_TEXT, _keep_prefix, text)


def _keep_prefix(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or match.group(3) or "") + REDACTED


class _KnownSecrets:
    """The API keys of the clients alive in this process, so that log records of
    other libraries (httpcore prints response headers at DEBUG) are scrubbed of
    them by value. Held weakly: a key is forgotten with the last client using it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()

    def add(self, owner: object, secret: str) -> None:
        with self._lock:
            self._owners[owner] = secret

    def values(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(set(self._owners.values()))


known_secrets = _KnownSecrets()


class RedactingFilter(logging.Filter):
    """Rewrites a record's message so no credential reaches any handler.

    Attached to the logger handed to ``websockets``, which logs the handshake's
    request line (and with it the session token) at DEBUG level, and to the
    loggers of ``httpx`` and ``httpcore``. Filters run only for records that pass
    the logger's level, so a quiet logger costs nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, *known_secrets.values())
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def redact_http_logs() -> None:
    """Scrub the records of the ``vatel`` logger and of the HTTP stack (once)."""
    for name in ("vatel", *_THIRD_PARTY_LOGGERS):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
