"""Call history and recordings: ``/v1/calls``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from typing_extensions import Unpack

from .._base_client import APIRequest, path_segment, query_params
from .._download import Destination, ProgressCallback
from .._models import Call, PaginatedCallsResponse
from .._params import CallListParams
from ._base import AsyncResource, SyncResource

DEFAULT_PAGE_SIZE = 100
"""Walking every call asks for the largest page the API allows: fewer round trips."""


def _list_page(
    page: int, page_size: int, filters: CallListParams
) -> APIRequest[PaginatedCallsResponse]:
    if page < 1:
        raise ValueError("page starts at 1")
    if not 1 <= page_size <= 100:
        raise ValueError("page_size must be between 1 and 100")
    params = query_params({"page": page, "page_size": page_size, **filters})
    return APIRequest("GET", "/v1/calls", cast=PaginatedCallsResponse, params=params)


def _call_path(call_id: str) -> str:
    return f"/v1/calls/{path_segment(call_id, 'call_id')}"


def _get(call_id: str) -> APIRequest[Call]:
    return APIRequest("GET", _call_path(call_id), cast=Call)


def _recording(call_id: str) -> APIRequest[None]:
    return APIRequest("GET", f"{_call_path(call_id)}/recording")


class Calls(SyncResource):
    """The organization's calls."""

    def list(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Unpack[CallListParams]
    ) -> Iterator[Call]:
        """Every call matching ``filters``, in the server's order, fetched page by page as
        the iteration goes on."""
        _list_page(1, page_size, filters)  # Fail on bad arguments now, not on first next().
        return self._iterate(page_size, filters)

    def _iterate(self, page_size: int, filters: CallListParams) -> Iterator[Call]:
        page = 1
        while True:
            result = self._request(_list_page(page, page_size, filters))
            yield from result.calls
            if not result.pagination.has_next or not result.calls:
                return
            page += 1

    def list_page(
        self, *, page: int = 1, page_size: int = 20, **filters: Unpack[CallListParams]
    ) -> PaginatedCallsResponse:
        """One page of calls with its ``pagination`` info."""
        return self._request(_list_page(page, page_size, filters))

    def get(self, call_id: str) -> Call:
        """One call, with its transcript when stored."""
        return self._request(_get(call_id))

    def download_recording(
        self,
        call_id: str,
        destination: Destination,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Stream the call's WAV recording to a path or a binary file object,
        without holding it in memory; returns the number of bytes written.

        A path is written only once the whole recording has arrived.
        """
        return self._client._download(_recording(call_id), destination, on_progress)


class AsyncCalls(AsyncResource):
    """The organization's calls."""

    def list(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **filters: Unpack[CallListParams]
    ) -> AsyncIterator[Call]:
        """Every call matching ``filters``, in the server's order, fetched page by page as
        the iteration goes on (``async for call in client.calls.list()``)."""
        _list_page(1, page_size, filters)  # Fail on bad arguments now, not on first anext().
        return self._iterate(page_size, filters)

    async def _iterate(self, page_size: int, filters: CallListParams) -> AsyncIterator[Call]:
        page = 1
        while True:
            result = await self._request(_list_page(page, page_size, filters))
            for call in result.calls:
                yield call
            if not result.pagination.has_next or not result.calls:
                return
            page += 1

    async def list_page(
        self, *, page: int = 1, page_size: int = 20, **filters: Unpack[CallListParams]
    ) -> PaginatedCallsResponse:
        """One page of calls with its ``pagination`` info."""
        return await self._request(_list_page(page, page_size, filters))

    async def get(self, call_id: str) -> Call:
        """One call, with its transcript when stored."""
        return await self._request(_get(call_id))

    async def download_recording(
        self,
        call_id: str,
        destination: Destination,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Stream the call's WAV recording to a path or a binary file object,
        without holding it in memory; returns the number of bytes written.

        A path is written only once the whole recording has arrived.
        """
        return await self._client._download(_recording(call_id), destination, on_progress)
