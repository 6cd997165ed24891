"""Small helpers shared by the REST route modules."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ._errors import ApiError
from ._util import is_uuid


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: str | bytes) -> Any:
    """``raw`` parsed as strict JSON (no NaN or Infinity); raises ``ValueError``."""
    return json.loads(raw, parse_constant=_no_constants)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; 400 when it is missing or not JSON."""
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "request body is required")
    try:
        return parse_json(raw)
    except ValueError:
        raise ApiError(400, "request body is not valid JSON") from None


def path_id(request: web.Request, name: str = "id") -> str:
    """A UUID path parameter, lower-cased; 400 ``invalid id`` otherwise."""
    value = request.match_info[name]
    if not is_uuid(value):
        raise ApiError(400, "invalid id" if name == "id" else f"invalid {name}")
    return value.lower()


def ok(data: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.json_response(data, status=status)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON ``{"error": message}`` response."""
    return web.json_response({"error": message}, status=status, headers=headers)


def no_content() -> web.Response:
    return web.Response(status=204)
