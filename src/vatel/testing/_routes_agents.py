"""Agents, their versions, and outbound dialing."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._context import context
from ._defaults import agent_defaults, default_nodes
from ._errors import ApiError
from ._http import json_body, no_content, ok, path_id
from ._state import AgentRecord, State
from ._util import is_uuid, new_id, rfc3339, utcnow
from ._validation import AGENT_CREATE, AGENT_UPDATE, check

# Nested settings where a request sends only the fields to change.
_MERGED = ("noise_cancel_settings", "vad_settings", "timeout_settings")
_TUNING = ("speed", "stability", "similarity_boost", "volume")


def _check_agent_rules(state: State, fields: dict[str, Any]) -> None:
    """The business rules beyond the schema; raises 400 naming the field."""
    if "name" in fields and not fields["name"].strip():
        raise ApiError(400, "name must not be empty")
    for key in ("llm", "fallback_llm"):
        if key in fields and fields[key] not in state.llms:
            raise ApiError(400, f"{key} must be one of the models listed by GET /v1/llms")
    voice = fields.get("voice_settings")
    if voice is not None:
        for key in ("id", "provider"):
            if key not in voice:
                raise ApiError(400, f"voice_settings.{key} is required")
        for key in _TUNING:
            if voice.get(key) and not 0 <= voice[key] <= 2:
                raise ApiError(400, f"voice_settings.{key} must be between 0 and 2")
        known = any(
            v["id"] == voice["id"] and v["provider"] == voice["provider"] for v in state.voices
        )
        if not known:
            raise ApiError(
                400, f"voice_settings.id: no voice {voice['id']!r} from {voice['provider']}"
            )
    level = fields.get("noise_cancel_settings", {}).get("level")
    if level is not None and not 0 <= level <= 100:
        raise ApiError(400, "noise_cancel_settings.level must be between 0 and 100")
    for key, value in fields.get("vad_settings", {}).items():
        if value < 0:
            raise ApiError(400, f"vad_settings.{key} must not be negative")
    number_id = fields.get("phone_number_id")
    if number_id is not None:
        try:
            state.number(number_id)
        except ApiError:
            raise ApiError(
                400, "phone_number_id: no such Twilio number in this organization"
            ) from None


def _apply(data: dict[str, Any], fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key in _MERGED:
            data[key] = {**data.get(key, {}), **value}
        elif key == "phone_number_id":
            data[key] = value or ""
        else:
            data[key] = value


async def list_agents(request: web.Request) -> web.Response:
    state = context(request).state
    with state.lock:
        return ok([a.data for a in state.own(state.agents)])


async def create_agent(request: web.Request) -> web.Response:
    state = context(request).state
    fields = check(await json_body(request), AGENT_CREATE)
    now = rfc3339(utcnow())
    with state.lock:
        _check_agent_rules(state, fields)
        data = {"id": new_id(), **agent_defaults(), "created_at": now, "updated_at": now}
        _apply(data, fields)
        state.add_agent(state.org_id, data, default_nodes(data["prompt"]))
        return ok(data, 201)


async def get_agent(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id = path_id(request)
    with state.lock:
        return ok(state.agent(agent_id).data)


async def patch_agent(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id = path_id(request)
    fields = check(await json_body(request), AGENT_UPDATE)
    with state.lock:
        agent = state.agent(agent_id)
        _check_agent_rules(state, fields)
        _apply(agent.data, fields)
        agent.data["updated_at"] = rfc3339(utcnow())
        return ok(agent.data)


async def delete_agent(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id = path_id(request)
    with state.lock:
        state.agent(agent_id)
        del state.agents[agent_id]
        for key in [k for k, a in state.assignments.items() if a.data["agent_id"] == agent_id]:
            del state.assignments[key]
    return no_content()


async def list_versions(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id = path_id(request)
    with state.lock:
        return ok([v.data for v in state.agent(agent_id).versions.values()])


async def get_version(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id, version_id = path_id(request), path_id(request, "versionId")
    with state.lock:
        version = state.version(state.agent(agent_id), version_id)
        return ok({"version": version.data, "nodes": version.nodes})


async def publish_version(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id, version_id = path_id(request), path_id(request, "versionId")
    with state.lock:
        agent = state.agent(agent_id)
        version = state.version(agent, version_id)
        if version.data["published_at"] is not None:
            raise ApiError(409, "version already published")
        version.data["published_at"] = rfc3339(utcnow())
        agent.active_version_id = version_id
        return ok(version.data)


def _callee(query: dict[str, str]) -> str:
    number, destination = query.get("number"), query.get("destination")
    if number and destination and number != destination:
        raise ApiError(400, "number and destination must match when both are sent")
    callee = (number or destination or "").strip()
    if not callee:
        raise ApiError(400, "number (or destination) is required")
    if not 3 <= len(callee.lstrip("+")) <= 20:
        raise ApiError(400, "number: invalid number length")
    return callee


def _dial_source(state: State, agent: AgentRecord, trunk_id: str | None) -> str:
    """Check the agent may dial by the chosen path; the call source it will have."""
    if trunk_id is None:
        if agent.data["status"] != "active":
            raise ApiError(404, "agent not found or inactive")
        if not agent.data["phone_number_id"]:
            raise ApiError(400, "agent has no phone number")
        state.number(agent.data["phone_number_id"])
        return "twilio"
    state.trunk(trunk_id)
    assigned = any(
        a.data["sip_trunk_id"] == trunk_id and a.data["agent_id"] == agent.data["id"]
        for a in state.own(state.assignments)
    )
    if not assigned:
        raise ApiError(403, "SIP trunk is not assigned to this agent")
    return "sip"


async def dial_agent(request: web.Request) -> web.Response:
    state = context(request).state
    agent_id = path_id(request)
    query = dict(request.query)
    trunk_id = query.get("sipTrunkId")
    if trunk_id is not None:
        if not is_uuid(trunk_id):
            raise ApiError(400, "sipTrunkId must be a UUID")
        trunk_id = trunk_id.lower()
    callee = _callee(query)
    with state.lock:
        agent = state.agent(agent_id)
        source = _dial_source(state, agent, trunk_id)
        state.open_call(
            agent,
            agent.active_version_id,
            source=source,
            status="started",
            outbound=True,
            party_number=callee,
        )
    return ok({"success": True})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/agents", list_agents)
    router.add_post("/v1/agents", create_agent)
    router.add_get("/v1/agents/{id}", get_agent)
    router.add_patch("/v1/agents/{id}", patch_agent)
    router.add_delete("/v1/agents/{id}", delete_agent)
    router.add_get("/v1/agents/{id}/versions", list_versions)
    router.add_get("/v1/agents/{id}/versions/{versionId}", get_version)
    router.add_post("/v1/agents/{id}/versions/{versionId}/publish", publish_version)
    router.add_post("/v1/agents/{id}/dial", dial_agent)
