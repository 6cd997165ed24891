"""Keeping API keys and session tokens out of logs, reprs and messages."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"

# Query parameters that carry credentials; session tokens travel in the
# WebSocket URL's query string.
_SECRET_PARAMS = frozenset({"token", "api_key", "apikey", "access_token", "key"})
_SECRET_IN_TEXT = re.compile(
    r"(?i)((?:token|api_key|apikey|access_token)=)[^&\s\"'#]+|(Bearer\s+)[^\s\"',]+"
    # JSON members that carry credentials, as in a session-token response body (the
    # value may be cut short when the body was).
    r"|(\"(?:token|webrtc_token|auth_token|api_key|apikey|access_token|\w*password)\"\s*:\s*\")"
    r"(?:[^\"\\]|\\.)*"
)


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


def redact_text(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret, ``token=…`` query value, ``Bearer …``
    credential and JSON credential member (``"token": "…"``) replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _SECRET_IN_TEXT.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message so no credential reaches any handler.

    Attached to the logger handed to ``websockets``, which logs the handshake's
    request line (and with it the session token) at DEBUG level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
