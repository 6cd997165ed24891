"""Call history and recordings: ``/v1/calls``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

from .._base_client import APIRequest, DeferredModule, path_segment, query_params
from .._download import Destination, MemoryDestination, ProgressCallback
from .._models_calls import Call, PaginatedCallsResponse
from . import AsyncResource, SyncResource

if TYPE_CHECKING:
    from .. import _params
else:  # The keyword TypedDicts load with the first call that takes keywords.
    _params = DeferredModule("._params")

DEFAULT_PAGE_SIZE = 100
"""Walking every call asks for the largest page the API allows: fewer round trips."""

DEFAULT_MAX_RECORDING_BYTES = 50 * 2**20
"""The most :meth:`Calls.recording_bytes` holds in memory unless told otherwise."""

_PAGE_KEYWORDS = ("page", "page_size")


def _list_page(
    method: str, page: int, page_size: int, filters: _params.CallListParams
) -> APIRequest[PaginatedCallsResponse]:
    _params.check_keywords(method, filters, _params.CallListParams, also=_PAGE_KEYWORDS)
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be an int of at least 1, got {page!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 100:
        raise ValueError(f"page_size must be an int between 1 and 100, got {page_size!r}")
    params = query_params({"page": page, "page_size": page_size, **filters})
    return APIRequest("GET", "/v1/calls", cast=PaginatedCallsResponse, params=params)


def _next_page(page: int, result: PaginatedCallsResponse) -> int | None:
    """The page to fetch after ``page``, or ``None`` at the end."""
    if not result.pagination.has_next or not result.calls:
        return None
    return page + 1


def _call_path(call_id: str) -> str:
    return f"/v1/calls/{path_segment(call_id, 'call_id')}"


def _get(call_id: str) -> APIRequest[Call]:
    return APIRequest("GET", _call_path(call_id), cast=Call)


def _recording(call_id: str) -> APIRequest[None]:
    return APIRequest("GET", f"{_call_path(call_id)}/recording")


class AsyncCalls(AsyncResource):
    """The organization's calls."""

    def list(
        self,
        *,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[_params.CallListParams],
    ) -> AsyncIterator[Call]:
        """Every call matching ``filters``, in the server's order, fetched page by page as
        the iteration goes on (``for``, or ``async for`` on the async client); from
        ``page`` on, when given, to the last page.

        :meth:`list_page` fetches one page alone.
        """
        # Fail on bad arguments now, not on the first step of the iteration.
        _list_page("calls.list", page, page_size, filters)
        return self._iterate(page, page_size, filters)

    async def _iterate(
        self,
        page: int | None,
        page_size: int,
        filters: _params.CallListParams,
    ) -> AsyncIterator[Call]:
        while page is not None:
            result = await self._request(_list_page("calls.list", page, page_size, filters))
            for call in result.calls:
                yield call
            page = _next_page(page, result)

    async def list_page(
        self, *, page: int = 1, page_size: int = 20, **filters: Unpack[_params.CallListParams]
    ) -> PaginatedCallsResponse:
        """One page of calls with its ``pagination`` info."""
        return await self._request(_list_page("calls.list_page", page, page_size, filters))

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

    async def recording_bytes(
        self, call_id: str, *, max_bytes: int = DEFAULT_MAX_RECORDING_BYTES
    ) -> bytes:
        """The call's WAV recording in memory, for small files.

        Raises :class:`ResponseTooLargeError` (an :class:`vatel.APIError`) for a
        recording over ``max_bytes``: at once when the server announces its size,
        otherwise as soon as more than ``max_bytes`` have arrived, so no more than
        that is ever held. :meth:`download_recording` streams any size to a file.
        """
        buffer = MemoryDestination(max_bytes)
        await self._client._download(_recording(call_id), buffer, None)
        return buffer.getvalue()


# --- generated by scripts/unasync.py from AsyncCalls: do not edit ---
class Calls(SyncResource):
    """The organization's calls."""

    def list(
        self,
        *,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        **filters: Unpack[_params.CallListParams],
    ) -> Iterator[Call]:
        """Every call matching ``filters``, in the server's order, fetched page by page as
        the iteration goes on (``for``, or ``async for`` on the async client); from
        ``page`` on, when given, to the last page.

        :meth:`list_page` fetches one page alone.
        """
        # Fail on bad arguments now, not on the first step of the iteration.
        _list_page("calls.list", page, page_size, filters)
        return self._iterate(page, page_size, filters)

    def _iterate(
        self,
        page: int | None,
        page_size: int,
        filters: _params.CallListParams,
    ) -> Iterator[Call]:
        while page is not None:
            result = self._request(_list_page("calls.list", page, page_size, filters))
            yield from result.calls
            page = _next_page(page, result)

    def list_page(
        self, *, page: int = 1, page_size: int = 20, **filters: Unpack[_params.CallListParams]
    ) -> PaginatedCallsResponse:
        """One page of calls with its ``pagination`` info."""
        return self._request(_list_page("calls.list_page", page, page_size, filters))

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

    def recording_bytes(
        self, call_id: str, *, max_bytes: int = DEFAULT_MAX_RECORDING_BYTES
    ) -> bytes:
        """The call's WAV recording in memory, for small files.

        Raises :class:`ResponseTooLargeError` (an :class:`vatel.APIError`) for a
        recording over ``max_bytes``: at once when the server announces its size,
        otherwise as soon as more than ``max_bytes`` have arrived, so no more than
        that is ever held. :meth:`download_recording` streams any size to a file.
        """
        buffer = MemoryDestination(max_bytes)
        self._client._download(_recording(call_id), buffer, None)
        return buffer.getvalue()


# --- end generated ---
