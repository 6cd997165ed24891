"""``calls.list(page=N)`` walks on from page N to the last page (it used to fetch page N
forever), sync and async, against the mock's seeded calls."""

from __future__ import annotations

import itertools
import math

import pytest

from _support import Api
from vatel.testing import MockServer
from vatel.testing._seed import CALL_COUNT

pytestmark = pytest.mark.anyio

PAGE_SIZE = 5
LAST_PAGE = math.ceil(CALL_COUNT / PAGE_SIZE)
CAP = 4 * CALL_COUNT
"""Far more calls than the mock holds: an endless walk stops here and fails."""


def list_requests(server: MockServer) -> list[dict[str, str]]:
    return [r.query for r in server.requests if r.path == "/v1/calls"]


async def test_list_from_a_page_walks_on_to_the_last(api: Api, server: MockServer) -> None:
    assert LAST_PAGE >= 3, "the seed has several pages of five"
    expected: list[str] = []
    for page in range(2, LAST_PAGE + 1):
        one = await api(lambda c, page=page: c.calls.list_page(page=page, page_size=PAGE_SIZE))
        assert one.pagination.total == CALL_COUNT
        expected += [call.id for call in one.calls]
    assert len(expected) == CALL_COUNT - PAGE_SIZE

    server.clear_requests()
    walk = await api(lambda c: c.calls.list(page=2, page_size=PAGE_SIZE))
    seen = [call.id for call in await api.collect(_capped(walk, api))]
    assert seen == expected
    pages = [query["page"] for query in list_requests(server)]
    assert pages == [str(n) for n in range(2, LAST_PAGE + 1)]


async def test_list_from_past_the_last_page_is_empty(api: Api, server: MockServer) -> None:
    server.clear_requests()
    walk = await api(lambda c: c.calls.list(page=LAST_PAGE + 1, page_size=PAGE_SIZE))
    assert await api.collect(_capped(walk, api)) == []
    assert [q["page"] for q in list_requests(server)] == [str(LAST_PAGE + 1)]


async def test_list_from_the_first_page_is_every_call(api: Api) -> None:
    walk = await api(lambda c: c.calls.list(page_size=PAGE_SIZE))
    calls = await api.collect(_capped(walk, api))
    assert len({call.id for call in calls}) == len(calls) == CALL_COUNT


@pytest.mark.parametrize("page", [0, -1, True, 1.5, "2"])
async def test_bad_start_page_fails_before_any_request(
    api: Api, server: MockServer, page: object
) -> None:
    server.clear_requests()
    with pytest.raises(ValueError, match="page must be"):
        await api(lambda c: c.calls.list(page=page))
    assert server.requests == []


def _capped(walk: object, api: Api) -> object:
    """``walk`` cut at :data:`CAP` items, so that an endless walk ends (and fails)."""
    if api.is_async:

        async def capped() -> object:
            count = 0
            async for item in walk:  # type: ignore[attr-defined]
                yield item
                count += 1
                if count >= CAP:
                    return

        return capped()
    return itertools.islice(walk, CAP)  # type: ignore[call-overload]
