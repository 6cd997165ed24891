"""Reading a REST answer's JSON body without ever quoting it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["load_json"]


def load_json(content: bytes) -> tuple[Any, str | None]:
    """The body's JSON value and ``None``, or ``None`` and why it is not JSON.

    The reason never quotes the body: a decoder's error holds the whole text,
    which may be a session token, so none is kept or chained.
    """
    try:
        return json.loads(content), None
    except RecursionError:
        return None, "nested too deeply"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError as exc:
        # The decoder's message names a position, never the text around it.
        return None, exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
