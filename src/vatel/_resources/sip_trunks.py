"""SIP trunks and their agent assignments: ``/v1/sip-trunks``."""

from __future__ import annotations

from typing_extensions import Unpack

from .._base_client import APIRequest, path_segment
from .._models import SipTrunk, SipTrunkAgentAssignment
from .._params import (
    AssignmentCreateParams,
    AssignmentUpdateParams,
    SipTrunkCreateParams,
    SipTrunkUpdateParams,
    check_keywords,
)
from ._base import AsyncResource, SyncResource

_LIST: APIRequest[list[SipTrunk]] = APIRequest("GET", "/v1/sip-trunks", cast=list[SipTrunk])


def _trunk_path(trunk_id: str) -> str:
    return f"/v1/sip-trunks/{path_segment(trunk_id, 'trunk_id')}"


def _assignment_path(assignment_id: str) -> str:
    return f"/v1/sip-trunks/assignments/{path_segment(assignment_id, 'assignment_id')}"


def _create(params: SipTrunkCreateParams) -> APIRequest[SipTrunk]:
    check_keywords("sip_trunks.create", params, SipTrunkCreateParams)
    return APIRequest("POST", "/v1/sip-trunks", cast=SipTrunk, body=params)


def _get(trunk_id: str) -> APIRequest[SipTrunk]:
    return APIRequest("GET", _trunk_path(trunk_id), cast=SipTrunk)


def _update(trunk_id: str, params: SipTrunkUpdateParams) -> APIRequest[SipTrunk]:
    check_keywords("sip_trunks.update", params, SipTrunkUpdateParams)
    return APIRequest("PATCH", _trunk_path(trunk_id), cast=SipTrunk, body=params)


def _delete(trunk_id: str) -> APIRequest[None]:
    return APIRequest("DELETE", _trunk_path(trunk_id))


def _list_assignments(trunk_id: str) -> APIRequest[list[SipTrunkAgentAssignment]]:
    path = f"{_trunk_path(trunk_id)}/assignments"
    return APIRequest("GET", path, cast=list[SipTrunkAgentAssignment])


def _create_assignment(
    trunk_id: str, params: AssignmentCreateParams
) -> APIRequest[SipTrunkAgentAssignment]:
    check_keywords("sip_trunks.assignments.create", params, AssignmentCreateParams)
    path = f"{_trunk_path(trunk_id)}/assignments"
    return APIRequest("POST", path, cast=SipTrunkAgentAssignment, body=params)


def _get_assignment(assignment_id: str) -> APIRequest[SipTrunkAgentAssignment]:
    return APIRequest("GET", _assignment_path(assignment_id), cast=SipTrunkAgentAssignment)


def _update_assignment(
    assignment_id: str, params: AssignmentUpdateParams
) -> APIRequest[SipTrunkAgentAssignment]:
    check_keywords("sip_trunks.assignments.update", params, AssignmentUpdateParams)
    path = _assignment_path(assignment_id)
    return APIRequest("PATCH", path, cast=SipTrunkAgentAssignment, body=params)


def _delete_assignment(assignment_id: str) -> APIRequest[None]:
    return APIRequest("DELETE", _assignment_path(assignment_id))


class Assignments(SyncResource):
    """Which agents answer on a SIP trunk, and at which number."""

    def list(self, trunk_id: str) -> list[SipTrunkAgentAssignment]:
        """Every assignment on a trunk."""
        return self._request(_list_assignments(trunk_id))

    def create(
        self, trunk_id: str, **params: Unpack[AssignmentCreateParams]
    ) -> SipTrunkAgentAssignment:
        """Assign an agent to a trunk: ``number`` for digest-auth trunks,
        ``alternate_number`` for ACL trunks."""
        return self._request(_create_assignment(trunk_id, params))

    def get(self, assignment_id: str) -> SipTrunkAgentAssignment:
        """One assignment."""
        return self._request(_get_assignment(assignment_id))

    def update(
        self, assignment_id: str, **params: Unpack[AssignmentUpdateParams]
    ) -> SipTrunkAgentAssignment:
        """Change an assignment's numbers; ``None`` clears one."""
        return self._request(_update_assignment(assignment_id, params))

    def delete(self, assignment_id: str) -> None:
        """Remove an assignment."""
        self._request(_delete_assignment(assignment_id))


class AsyncAssignments(AsyncResource):
    """Which agents answer on a SIP trunk, and at which number."""

    async def list(self, trunk_id: str) -> list[SipTrunkAgentAssignment]:
        """Every assignment on a trunk."""
        return await self._request(_list_assignments(trunk_id))

    async def create(
        self, trunk_id: str, **params: Unpack[AssignmentCreateParams]
    ) -> SipTrunkAgentAssignment:
        """Assign an agent to a trunk: ``number`` for digest-auth trunks,
        ``alternate_number`` for ACL trunks."""
        return await self._request(_create_assignment(trunk_id, params))

    async def get(self, assignment_id: str) -> SipTrunkAgentAssignment:
        """One assignment."""
        return await self._request(_get_assignment(assignment_id))

    async def update(
        self, assignment_id: str, **params: Unpack[AssignmentUpdateParams]
    ) -> SipTrunkAgentAssignment:
        """Change an assignment's numbers; ``None`` clears one."""
        return await self._request(_update_assignment(assignment_id, params))

    async def delete(self, assignment_id: str) -> None:
        """Remove an assignment."""
        await self._request(_delete_assignment(assignment_id))


class SipTrunks(SyncResource):
    """SIP connectivity profiles."""

    @property
    def assignments(self) -> Assignments:
        """Agent assignments on trunks."""
        return Assignments(self._client)

    def list(self) -> list[SipTrunk]:
        """Every SIP trunk."""
        return self._request(_LIST)

    def create(self, **params: Unpack[SipTrunkCreateParams]) -> SipTrunk:
        """Create a trunk; passwords are write-only."""
        return self._request(_create(params))

    def get(self, trunk_id: str) -> SipTrunk:
        """One trunk."""
        return self._request(_get(trunk_id))

    def update(self, trunk_id: str, **params: Unpack[SipTrunkUpdateParams]) -> SipTrunk:
        """Change the given fields of a trunk; ``None`` clears a nullable one."""
        return self._request(_update(trunk_id, params))

    def delete(self, trunk_id: str) -> None:
        """Delete a trunk."""
        self._request(_delete(trunk_id))


class AsyncSipTrunks(AsyncResource):
    """SIP connectivity profiles."""

    @property
    def assignments(self) -> AsyncAssignments:
        """Agent assignments on trunks."""
        return AsyncAssignments(self._client)

    async def list(self) -> list[SipTrunk]:
        """Every SIP trunk."""
        return await self._request(_LIST)

    async def create(self, **params: Unpack[SipTrunkCreateParams]) -> SipTrunk:
        """Create a trunk; passwords are write-only."""
        return await self._request(_create(params))

    async def get(self, trunk_id: str) -> SipTrunk:
        """One trunk."""
        return await self._request(_get(trunk_id))

    async def update(self, trunk_id: str, **params: Unpack[SipTrunkUpdateParams]) -> SipTrunk:
        """Change the given fields of a trunk; ``None`` clears a nullable one."""
        return await self._request(_update(trunk_id, params))

    async def delete(self, trunk_id: str) -> None:
        """Delete a trunk."""
        await self._request(_delete(trunk_id))
