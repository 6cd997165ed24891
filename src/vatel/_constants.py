"""Defaults shared by the REST and voice clients."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.vatel.ai"
API_KEY_ENV = "VATEL_API_KEY"
BASE_URL_ENV = "VATEL_BASE_URL"

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
"""REST calls are short; a stalled connect should fail fast. (Plain numbers, not
an ``httpx.Timeout``: the voice client reads this module and never needs httpx.)"""

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

DEFAULT_MAX_PENDING_TOOL_CALLS = 16
"""Tool calls a session may have in flight before further ones are refused.

An agent rarely runs more than a few tools at once; 16 leaves room for that
while a misbehaving server can pin at most 16 calls' arguments (each bounded
by the connection's ``max_size``) and 16 handler threads.
"""
