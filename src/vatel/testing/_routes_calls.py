"""Call history: the paginated, filtered list, one call, and its recording."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime

from aiohttp import web

from . import _sounds
from ._context import BODY_FAULT, context
from ._errors import ApiError
from ._http import ok, path_id
from ._state import CallRecord
from ._util import is_uuid, parse_instant
from ._validation import CALL_OUTCOMES, CALL_SOURCES, CALL_STATUSES

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
RECORDING_CHUNK = 16 * 1024

_DIGITS = re.compile(r"[0-9]+")

Filter = Callable[[CallRecord], bool]


def _int_param(query: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or int(raw) < 1:
        raise ApiError(400, f"{name} must be a positive integer")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise ApiError(400, f"{name} must be at most {maximum}")
    return value


def _enum_param(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is not None and raw not in allowed:
        raise ApiError(400, f"{name} must be one of: " + ", ".join(allowed))
    return raw


def _instant_param(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an RFC 3339 timestamp or date") from None


def _text_param(query: Mapping[str, str], name: str, limit: int) -> str | None:
    raw = query.get(name)
    if raw is not None and len(raw) > limit:
        raise ApiError(400, f"{name} must be at most {limit} characters")
    return raw


def _field_equals(key: str, value: object) -> Filter:
    return lambda call: call.data.get(key) == value


def _filters(query: Mapping[str, str]) -> list[Filter]:
    """One predicate per filter in ``query``; 400 for any invalid value."""
    org = query.get("organization_id")
    if org is not None and not is_uuid(org):
        raise ApiError(400, "organization_id must be a UUID")
    filters: list[Filter] = []
    raw_agents = query.get("agent_ids")
    if raw_agents:
        agents = [part.strip() for part in raw_agents.split(",")]
        if not all(is_uuid(a) for a in agents):
            raise ApiError(400, "agent_ids must be comma-separated UUIDs")
        wanted = {a.lower() for a in agents}
        filters.append(lambda c: c.data["agent_id"] in wanted)
    for name, allowed in (("status", CALL_STATUSES), ("source", CALL_SOURCES)):
        value = _enum_param(query, name, allowed)
        if value is not None:
            filters.append(_field_equals(name, value))
    outbound = _enum_param(query, "outbound", ("true", "false"))
    if outbound is not None:
        filters.append(_field_equals("outbound", outbound == "true"))
    outcome = _enum_param(query, "outcome", CALL_OUTCOMES)
    if outcome is not None:
        filters.append(_field_equals("termination_reason", outcome))
    since, until = _instant_param(query, "date_from"), _instant_param(query, "date_to")
    if since is not None:
        filters.append(lambda c: c.created >= since)
    if until is not None:
        filters.append(lambda c: c.created <= until)
    search = _text_param(query, "search", 256)
    if search:
        needle = search.lower()
        filters.append(lambda c: needle in c.data["party_number"].lower())
    tag = _text_param(query, "tag", 128)
    if tag:
        filters.append(lambda c: tag in c.data["tags"])
    return filters


async def list_calls(request: web.Request) -> web.Response:
    state = context(request).state
    query = request.query
    page = _int_param(query, "page", 1, None)
    size = _int_param(query, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filters = _filters(query)
    with state.lock:
        calls = [c for c in state.own(state.calls) if all(f(c) for f in filters)]
        calls.sort(key=lambda c: (c.created, c.data["id"]), reverse=True)
        total = len(calls)
        pages = math.ceil(total / size)
        body = {
            "calls": [c.data for c in calls[(page - 1) * size : page * size]],
            "pagination": {
                "page": page,
                "page_size": size,
                "total": total,
                "total_pages": pages,
                "has_next": page < pages,
                "has_prev": page > 1,
            },
        }
        return ok(body)


async def get_call(request: web.Request) -> web.Response:
    state = context(request).state
    call_id = path_id(request)
    with state.lock:
        return ok(state.call(call_id).data)


async def download_recording(request: web.Request) -> web.StreamResponse:
    state = context(request).state
    call_id = path_id(request)
    with state.lock:
        record = state.call(call_id)
        variant = record.recording_variant
        if variant is None:
            raise ApiError(404, "recording not found")
        if record.recording is None:
            record.recording = _sounds.recording(variant)
        wav = record.recording
    # A reset or truncate fault is applied here rather than by the middleware,
    # because this body is streamed, not built in one piece.
    fault = BODY_FAULT.get()
    send = len(wav) // 2 if fault else len(wav)
    response = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="{call_id}.wav"'}
    )
    response.content_type = "audio/wav"
    response.content_length = len(wav) if fault == "reset" else send
    await response.prepare(request)
    for start in range(0, send, RECORDING_CHUNK):
        await response.write(wav[start : min(start + RECORDING_CHUNK, send)])
    if fault == "reset" and request.transport is not None:
        request.transport.abort()
        return response
    await response.write_eof()
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/calls", list_calls)
    router.add_get("/v1/calls/{id}", get_call)
    router.add_get("/v1/calls/{id}/recording", download_recording)
