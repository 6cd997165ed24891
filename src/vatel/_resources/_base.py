"""What every resource holds: the client it sends through."""

from __future__ import annotations

from typing import TypeVar

# The module, not its names: the client module may be half-initialised here
# (it can import the resources), and the names are only read from annotations.
from .. import _client
from .._base_client import APIRequest

T = TypeVar("T")


class SyncResource:
    """A group of operations sent through a :class:`vatel.Client`."""

    def __init__(self, client: _client.Client) -> None:
        self._client = client

    def _request(self, request: APIRequest[T]) -> T:
        return self._client._request(request)


class AsyncResource:
    """A group of operations sent through a :class:`vatel.AsyncClient`."""

    def __init__(self, client: _client.AsyncClient) -> None:
        self._client = client

    async def _request(self, request: APIRequest[T]) -> T:
        return await self._client._request(request)
