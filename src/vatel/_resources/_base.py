"""What every resource holds: the client it sends through."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from .._base_client import APIRequest

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

T = TypeVar("T")


class SyncResource:
    """A group of operations sent through a :class:`vatel.Client`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _request(self, request: APIRequest[T]) -> T:
        return self._client._request(request)


class AsyncResource:
    """A group of operations sent through a :class:`vatel.AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _request(self, request: APIRequest[T]) -> T:
        return await self._client._request(request)
