"""Defaults shared by the REST and voice clients."""

from __future__ import annotations

import httpx

DEFAULT_BASE_URL = "https://api.vatel.ai"
API_KEY_ENV = "VATEL_API_KEY"
BASE_URL_ENV = "VATEL_BASE_URL"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""REST calls are short; a stalled connect should fail fast."""

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
"""A server asking for a longer wait than this gets its error raised instead:
blocking a caller for minutes without telling it is the bigger surprise."""

DOWNLOAD_CHUNK_SIZE = 64 * 1024

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error response's body kept on the exception; the rest is not read."""
ERROR_MESSAGE_LIMIT = 1024
"""Characters of the server's ``error`` string kept in an exception's message."""
