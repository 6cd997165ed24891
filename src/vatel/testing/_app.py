"""The aiohttp application: routes plus one middleware for faults, auth,
errors and the request record."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from typing import Any

from aiohttp import web

from . import (
    _routes_agents,
    _routes_calls,
    _routes_catalog,
    _routes_session,
    _routes_telephony,
)
from ._context import BODY_FAULT, CONTEXT, ServerContext, context
from ._errors import ApiError
from ._faults import RestFault
from ._http import error, parse_json
from ._records import RecordedRequest
from ._routes_voice import VOICE_PATH, connect

logger = logging.getLogger("vatel.testing")

Handler = Any  # aiohttp's handler type differs between versions
_CREDENTIAL_HEADERS = frozenset({"authorization", "api-key"})
# Typed request keys arrived in aiohttp 3.12; older versions take a string.
_RAW_BODY: Any = (
    web.RequestKey("vatel_raw_body", bytes) if hasattr(web, "RequestKey") else "vatel_raw_body"
)


def build_app(ctx: ServerContext) -> web.Application:
    """A fresh application serving the whole contract from ``ctx``."""
    app = web.Application(middlewares=[_middleware])
    app[CONTEXT] = ctx
    app.on_response_prepare.append(_record)
    router = app.router
    for module in (
        _routes_catalog,
        _routes_agents,
        _routes_calls,
        _routes_telephony,
        _routes_session,
    ):
        module.add_routes(router)
    router.add_get(VOICE_PATH, connect)
    return app


def _authorized(request: web.Request, api_key: str) -> bool:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credential.strip().encode(), api_key.encode()
    )


def _failure(fault: RestFault) -> web.Response:
    headers = {}
    if fault.retry_after is not None:
        value = fault.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        headers["Retry-After"] = str(value)
    if fault.body is None:
        return error(fault.status, f"injected failure ({fault.status})", headers)
    if isinstance(fault.body, (str, bytes)):
        return web.Response(
            status=fault.status, body=fault.body, content_type="text/plain", headers=headers
        )
    return web.json_response(fault.body, status=fault.status, headers=headers)


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except ApiError as exc:
        return error(exc.status, exc.message)
    except web.HTTPException as exc:
        # Unknown paths and methods get the API's JSON error shape too.
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error(exc.status, exc.reason.lower(), headers)
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error(500, "internal server error")
    return response


async def _break_body(
    request: web.Request, response: web.StreamResponse, action: str
) -> web.StreamResponse:
    """Send half of a built response's body: complete-but-short, or cut off by a reset."""
    body = response.body if isinstance(response, web.Response) else None
    if response.prepared or not isinstance(body, bytes) or not body:
        return response
    half = body[: len(body) // 2]
    broken = web.StreamResponse(status=response.status, headers=response.headers)
    broken.content_length = len(body) if action == "reset" else len(half)
    await broken.prepare(request)
    await broken.write(half)
    if action == "reset" and request.transport is not None:
        request.transport.abort()
        return broken
    await broken.write_eof()
    return broken


async def _respond(
    request: web.Request, handler: Handler, ctx: ServerContext, fault: RestFault | None
) -> web.StreamResponse:
    if fault is not None and fault.action == "fail":
        return _failure(fault)
    if fault is not None and fault.action == "delay":
        # Waiting on the stop signal lets a stopping server cut the delay short.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), fault.seconds)
    if not _authorized(request, ctx.api_key):
        return error(401, "missing or invalid API key")
    body_fault = fault.action if fault is not None and fault.action != "delay" else None
    token = BODY_FAULT.set(body_fault)
    try:
        response = await _handle(request, handler)
    finally:
        BODY_FAULT.reset(token)
    if body_fault is not None:
        response = await _break_body(request, response, body_fault)
    return response


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = context(request)
    if request.path == VOICE_PATH:
        # Not recorded: the session token is in the query. Sessions are in ctx.sessions.
        return await _handle(request, handler)
    request[_RAW_BODY] = await request.read()
    fault = ctx.faults.take_rest(request.method, request.path)
    response = await _respond(request, handler, ctx, fault)
    logger.debug("%s %s -> %d", request.method, request.path, response.status)
    return response


async def _record(request: web.Request, response: web.StreamResponse) -> None:
    """Record a REST request just before its response's headers go out.

    Recording here rather than after the handler returns means a client that
    has read a response always finds its request in the record, streamed and
    deliberately broken bodies included.
    """
    raw = request.pop(_RAW_BODY, None)
    if raw is None:
        return  # the voice path, or already recorded
    try:
        body = parse_json(raw) if raw.strip() else None
    except ValueError:
        body = None
    headers = {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower() not in _CREDENTIAL_HEADERS
    }
    context(request).requests.append(
        RecordedRequest(
            request.method, request.path, dict(request.query), body, headers, response.status
        )
    )
