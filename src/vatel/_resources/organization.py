"""``GET /v1/organization``."""

from __future__ import annotations

from .._base_client import APIRequest
from .._models import Organization
from ._base import AsyncResource, SyncResource

_GET: APIRequest[Organization] = APIRequest("GET", "/v1/organization", cast=Organization)


class OrganizationResource(SyncResource):
    """The organization that owns the API key."""

    def get(self) -> Organization:
        """The organization's id and name."""
        return self._request(_GET)


class AsyncOrganizationResource(AsyncResource):
    """The organization that owns the API key."""

    async def get(self) -> Organization:
        """The organization's id and name."""
        return await self._request(_GET)
