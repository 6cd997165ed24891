"""Session tokens for the voice WebSocket (and WebRTC media rooms).

Besides the contract's JSON body, the request shapes of Vatel's other official
SDKs are accepted: optional members sent as ``null`` count as absent, and an
older SDK's ``?agentId=…[&versionId=…]`` query stands in for the body. When the
query and the body both name an agent (or a version), they must agree.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from ._context import context
from ._errors import ApiError
from ._http import json_body, ok
from ._util import is_uuid
from ._validation import SESSION_TOKEN_REQUEST, check

_PARAMETERS = ("prompt", "first_message", "chat_id")
_QUERY_MEMBERS = (("agentId", "agent_id"), ("versionId", "version_id"))
"""Query parameters that stand in for body members, as an older SDK sends them."""


async def _token_request(request: web.Request) -> dict[str, Any]:
    """The checked request: the JSON body, with the query's ids merged in."""
    given = {
        member: value.lower()
        for name, member in _QUERY_MEMBERS
        if (value := request.query.get(name)) is not None
    }
    for name, member in _QUERY_MEMBERS:
        if member in given and not is_uuid(given[member]):
            raise ApiError(400, f"{name} query parameter must be a UUID")
    if given and not (await request.read()).strip():
        raw: Any = {}
    else:
        raw = await json_body(request)
    if isinstance(raw, dict):
        # Filled in before checking, so that a body without agent_id may take the
        # query's; a null agent_id stays an error, as it is without a query.
        required = SESSION_TOKEN_REQUEST.required
        missing = {
            m: v for m, v in given.items() if m not in raw or (raw[m] is None and m not in required)
        }
        raw = {**raw, **missing}
    body: dict[str, Any] = check(raw, SESSION_TOKEN_REQUEST)
    for name, member in _QUERY_MEMBERS:
        if member in given and body[member] != given[member]:
            raise ApiError(400, f"{name} query parameter does not match {member} in the body")
    return body


async def create_session_token(request: web.Request) -> web.Response:
    ctx = context(request)
    state = ctx.state
    body = await _token_request(request)
    agent_id = body["agent_id"]
    with state.lock:
        agent = state.agents.get(agent_id)
        if agent is None:
            raise ApiError(404, "agent not found")
        if agent.org_id != state.org_id:
            raise ApiError(403, "agent belongs to another organization")
        version_id = body.get("version_id") or agent.active_version_id
        state.version(agent, version_id)
    parameters = {k: body[k] for k in _PARAMETERS if k in body}
    token = ctx.tokens.issue(
        agent_id=agent_id,
        version_id=version_id,
        organization_id=state.org_id,
        chat=body.get("chat", False),
        parameters=parameters,
    )
    result = {"token": token}
    if body.get("transport") == "webrtc":
        room = f"vatel-{uuid.uuid4().hex[:12]}"
        identity = f"api-{uuid.uuid4().hex[:12]}"
        given = ("version_id", "prompt", "first_message")
        attributes = {"agent_id": agent_id, **{k: body[k] for k in given if k in body}}
        result.update(
            webrtc_token=ctx.tokens.media_token(
                room=room, identity=identity, attributes=attributes
            ),
            room=room,
            identity=identity,
            url=f"ws://{request.host}/rtc",
        )
    return ok(result)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/session-token", create_session_token)
