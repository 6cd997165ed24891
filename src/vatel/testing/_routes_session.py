"""Session tokens for the voice WebSocket (and WebRTC media rooms)."""

from __future__ import annotations

import uuid

from aiohttp import web

from ._context import context
from ._errors import ApiError
from ._http import json_body, ok
from ._validation import SESSION_TOKEN_REQUEST, check

_PARAMETERS = ("prompt", "first_message", "chat_id")


async def create_session_token(request: web.Request) -> web.Response:
    ctx = context(request)
    state = ctx.state
    body = check(await json_body(request), SESSION_TOKEN_REQUEST)
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
