"""``GET /v1/connection``: the voice WebSocket handshake.

Only ``token`` is needed: the agent (and its version) come from the token's
claims, as the other official SDKs expect. ``agentId``, when given, must name
the token's agent; ``versionId``, when given, overrides the token's version
(the contract calls it an override).

Refusals happen before the upgrade, as plain HTTP responses with a JSON
``{"error": ...}`` body: 400 for missing or malformed query parameters and for
an ``agentId`` that is not the token's agent, 401 for a forged or expired
token, 403 when the token lacks the voice scope or the agent belongs to
another organization, 404 when the agent (or the requested version) does not
exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid

from aiohttp import web

from ._context import ServerContext, context
from ._errors import ApiError
from ._records import MockSession
from ._tokens import TokenError
from ._util import is_uuid
from ._vad import DEFAULT_START_SECS, DEFAULT_STOP_SECS, EnergyVad
from ._voice_agent import VoiceAgent

logger = logging.getLogger("vatel.testing")

VOICE_PATH = "/v1/connection"
CLOSE_TIMEOUT = 5.0
"""How long a server-initiated close waits for the client's close frame."""


def _query(request: web.Request) -> tuple[str, str | None, str | None]:
    """``token``, and ``agentId`` and ``versionId`` (lower-cased) when given."""
    query = request.query
    token, agent_id, version_id = query.get("token"), query.get("agentId"), query.get("versionId")
    if not token:
        raise ApiError(400, "token query parameter is required")
    if agent_id is not None and not is_uuid(agent_id):
        raise ApiError(400, "agentId must be a UUID")
    if version_id is not None and not is_uuid(version_id):
        raise ApiError(400, "versionId must be a UUID")
    return token, agent_id.lower() if agent_id else None, version_id.lower() if version_id else None


def _open_session(
    ctx: ServerContext, token: str, agent_id: str | None, version_id: str | None
) -> tuple[MockSession, EnergyVad, float]:
    """Check the token (and ``agentId`` against it); the session record and its
    voice detector."""
    try:
        claims = ctx.tokens.verify(token)
    except TokenError as exc:
        raise ApiError(401, str(exc)) from None
    if "voice" not in claims["scopes"]:
        raise ApiError(403, "session token lacks the voice scope")
    token_agent = claims["agent_id"].lower()
    if agent_id is not None and agent_id != token_agent:
        # The contract's 400: "token validation failed"; its 403 is for the organization.
        raise ApiError(400, "agentId does not match the session token's agent")
    state = ctx.state
    with state.lock:
        agent = state.agents.get(token_agent)
        if agent is None:
            raise ApiError(404, "agent not found")
        if agent.org_id != claims["organization_id"]:
            raise ApiError(403, "agent not allowed for this organization")
        version = version_id or claims.get("version_id") or agent.active_version_id
        state.version(agent, version)
        vad = agent.data.get("vad_settings") or {}
        parameters = claims.get("parameters") or {}
        session = MockSession(
            id=str(uuid.uuid4()),
            agent_id=token_agent,
            version_id=version,
            scopes=tuple(claims["scopes"]),
            first_message=str(parameters.get("first_message", agent.data["first_message"])),
            prompt=str(parameters.get("prompt", agent.data["prompt"])),
        )
        state.open_call(
            agent, version, source="api", status="in_progress", outbound=False, call_id=session.id
        )
    stop_secs = float(vad.get("stop_secs") or DEFAULT_STOP_SECS)
    detector = EnergyVad(
        start_secs=float(vad.get("start_secs") or DEFAULT_START_SECS), stop_secs=stop_secs
    )
    return session, detector, stop_secs


async def connect(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    if ctx.faults.take_hang():
        # Accepted, never answered: the client's open timeout is what ends this.
        await ctx.stopping.wait()
        raise ApiError(503, "server stopping")
    token, agent_id, version_id = _query(request)
    ws = web.WebSocketResponse(autoping=False, compress=False, timeout=CLOSE_TIMEOUT)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "expected a WebSocket upgrade request")
    session, vad, stop_secs = _open_session(ctx, token, agent_id, version_id)
    await ws.prepare(request)
    agent = VoiceAgent(
        ws=ws,
        request=request,
        session=session,
        state=ctx.state,
        pace=ctx.pace,
        idle_timeout=ctx.idle_timeout,
        vad=vad,
        stop_secs=stop_secs,
        clock=ctx.clock,
        sleep=ctx.sleep,
        faults=ctx.faults.take_session(),
        # Taken once the upgrade is done, so a failed handshake leaves it queued.
        script=ctx.scripts.take(session.agent_id),
    )
    session._end = functools.partial(_end_soon, asyncio.get_running_loop(), agent)
    ctx.live.add(agent)
    ctx.add_session(session)
    try:
        await agent.run()
    except Exception:
        # The upgrade is done: an error response can no longer be sent.
        logger.exception("voice session %s failed", session.id)
    finally:
        ctx.live.discard(agent)
    return ws


def _end_soon(loop: asyncio.AbstractEventLoop, agent: VoiceAgent) -> None:
    """End ``agent``'s session from any thread."""
    with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing to end
        loop.call_soon_threadsafe(agent.request_end)
