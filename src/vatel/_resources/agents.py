"""Agents: ``/v1/agents`` and its versions, publishing and outbound dialling."""

from __future__ import annotations

from typing_extensions import Unpack

from .._base_client import APIRequest, path_segment, query_params
from .._models import Agent, DialAgentResponse, GraphVersion, GraphVersionDetail
from .._params import AgentCreateParams, AgentUpdateParams, DialParams, check_keywords
from ._base import AsyncResource, SyncResource

_DIAL_QUERY_NAMES = {
    "sip_trunk_id": "sipTrunkId",
    "caller_id": "callerId",
    "first_message": "firstMessage",
}


def _agent_path(agent_id: str) -> str:
    return f"/v1/agents/{path_segment(agent_id, 'agent_id')}"


def _version_path(agent_id: str, version_id: str) -> str:
    return f"{_agent_path(agent_id)}/versions/{path_segment(version_id, 'version_id')}"


_LIST: APIRequest[list[Agent]] = APIRequest("GET", "/v1/agents", cast=list[Agent])


def _create(params: AgentCreateParams) -> APIRequest[Agent]:
    check_keywords("agents.create", params, AgentCreateParams)
    return APIRequest("POST", "/v1/agents", cast=Agent, body=params)


def _get(agent_id: str) -> APIRequest[Agent]:
    return APIRequest("GET", _agent_path(agent_id), cast=Agent)


def _update(agent_id: str, params: AgentUpdateParams) -> APIRequest[Agent]:
    check_keywords("agents.update", params, AgentUpdateParams)
    return APIRequest("PATCH", _agent_path(agent_id), cast=Agent, body=params)


def _delete(agent_id: str) -> APIRequest[None]:
    return APIRequest("DELETE", _agent_path(agent_id))


def _dial(agent_id: str, params: DialParams) -> APIRequest[DialAgentResponse]:
    check_keywords("agents.dial", params, DialParams)
    query = query_params(params, _DIAL_QUERY_NAMES)
    return APIRequest("POST", f"{_agent_path(agent_id)}/dial", cast=DialAgentResponse, params=query)


def _list_versions(agent_id: str) -> APIRequest[list[GraphVersion]]:
    return APIRequest("GET", f"{_agent_path(agent_id)}/versions", cast=list[GraphVersion])


def _get_version(agent_id: str, version_id: str) -> APIRequest[GraphVersionDetail]:
    return APIRequest("GET", _version_path(agent_id, version_id), cast=GraphVersionDetail)


def _publish(agent_id: str, version_id: str) -> APIRequest[GraphVersion]:
    return APIRequest("POST", f"{_version_path(agent_id, version_id)}/publish", cast=GraphVersion)


class Versions(SyncResource):
    """Versions of an agent's conversation flow."""

    def list(self, agent_id: str) -> list[GraphVersion]:
        """Every version of the agent."""
        return self._request(_list_versions(agent_id))

    def get(self, agent_id: str, version_id: str) -> GraphVersionDetail:
        """One version with all of its nodes."""
        return self._request(_get_version(agent_id, version_id))

    def publish(self, agent_id: str, version_id: str) -> GraphVersion:
        """Publish a version and make it the agent's active one.

        Raises :class:`vatel.ConflictError` if it was already published.
        """
        return self._request(_publish(agent_id, version_id))


class AsyncVersions(AsyncResource):
    """Versions of an agent's conversation flow."""

    async def list(self, agent_id: str) -> list[GraphVersion]:
        """Every version of the agent."""
        return await self._request(_list_versions(agent_id))

    async def get(self, agent_id: str, version_id: str) -> GraphVersionDetail:
        """One version with all of its nodes."""
        return await self._request(_get_version(agent_id, version_id))

    async def publish(self, agent_id: str, version_id: str) -> GraphVersion:
        """Publish a version and make it the agent's active one.

        Raises :class:`vatel.ConflictError` if it was already published.
        """
        return await self._request(_publish(agent_id, version_id))


class Agents(SyncResource):
    """The organization's voice agents."""

    @property
    def versions(self) -> Versions:
        """Versions of an agent's conversation flow."""
        return Versions(self._client)

    def list(self) -> list[Agent]:
        """Every agent of the organization."""
        return self._request(_LIST)

    def create(self, **params: Unpack[AgentCreateParams]) -> Agent:
        """Create an agent; fields left out take the server's defaults."""
        return self._request(_create(params))

    def get(self, agent_id: str) -> Agent:
        """One agent."""
        return self._request(_get(agent_id))

    def update(self, agent_id: str, **params: Unpack[AgentUpdateParams]) -> Agent:
        """Change the given fields of an agent; ``keyterms`` replaces the whole list."""
        return self._request(_update(agent_id, params))

    def delete(self, agent_id: str) -> None:
        """Delete an agent."""
        self._request(_delete(agent_id))

    def dial(self, agent_id: str, **params: Unpack[DialParams]) -> DialAgentResponse:
        """Place an outbound call from the agent, over Twilio or a SIP trunk."""
        return self._request(_dial(agent_id, params))


class AsyncAgents(AsyncResource):
    """The organization's voice agents."""

    @property
    def versions(self) -> AsyncVersions:
        """Versions of an agent's conversation flow."""
        return AsyncVersions(self._client)

    async def list(self) -> list[Agent]:
        """Every agent of the organization."""
        return await self._request(_LIST)

    async def create(self, **params: Unpack[AgentCreateParams]) -> Agent:
        """Create an agent; fields left out take the server's defaults."""
        return await self._request(_create(params))

    async def get(self, agent_id: str) -> Agent:
        """One agent."""
        return await self._request(_get(agent_id))

    async def update(self, agent_id: str, **params: Unpack[AgentUpdateParams]) -> Agent:
        """Change the given fields of an agent; ``keyterms`` replaces the whole list."""
        return await self._request(_update(agent_id, params))

    async def delete(self, agent_id: str) -> None:
        """Delete an agent."""
        await self._request(_delete(agent_id))

    async def dial(self, agent_id: str, **params: Unpack[DialParams]) -> DialAgentResponse:
        """Place an outbound call from the agent, over Twilio or a SIP trunk."""
        return await self._request(_dial(agent_id, params))
