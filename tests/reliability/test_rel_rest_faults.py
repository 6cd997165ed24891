"""REST faults injected by the mock server: bodies cut by a reset, truncated JSON, 5xx
bursts across many concurrent requests, ``Retry-After`` as an HTTP date. The SDK either
gets the answer or raises a typed error; it never repeats a request that may have been
carried out, and never leaves a partial download behind."""

from __future__ import annotations

import asyncio
import email.utils
import io
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_no_secret, injected

import vatel
from _support import Api
from vatel.testing import MockServer, RecordedRequest

pytestmark = pytest.mark.anyio


def recorded(server: MockServer, method: str, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == method and r.path == path]


async def a_call_with_a_recording(api: Api) -> tuple[str, bytes]:
    """A seeded call that has a recording, and the recording's bytes."""
    page = await api(lambda c: c.calls.list_page(status="ended", page_size=100))
    for call in page.calls:
        buffer = io.BytesIO()
        try:
            await api(lambda c, cid=call.id, out=buffer: c.calls.download_recording(cid, out))
        except vatel.NotFoundError:
            continue
        return call.id, buffer.getvalue()
    raise AssertionError("no seeded call has a recording")


class TestResetMidBody:
    async def test_an_idempotent_get_is_retried_and_succeeds(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        expected = [a.id for a in await api(lambda c: c.agents.list())]
        server.clear_requests()
        server.faults.reset_next(method="GET", path="/v1/agents")
        injected("REST reset mid-body")
        agents = await api(lambda c: c.agents.list())
        assert [a.id for a in agents] == expected
        assert len(recorded(server, "GET", "/v1/agents")) == 2 and len(waits) == 1

    async def test_a_post_is_not_repeated_and_ran_once(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.faults.reset_next(method="POST", path="/v1/agents")
        injected("REST reset mid-body")
        with pytest.raises(vatel.APIConnectionError) as info:
            await api(lambda c: c.agents.create(name="Reset while answering"))
        assert not isinstance(info.value, vatel.APITimeoutError)
        assert len(recorded(server, "POST", "/v1/agents")) == 1 and waits == []
        # The server did create it: repeating the POST would have made a second one.
        names = [a.name for a in await api(lambda c: c.agents.list())]
        assert names.count("Reset while answering") == 1
        assert_no_secret([server.api_key], info.value)

    async def test_a_patch_is_not_repeated(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        agent = await api(lambda c: c.agents.create(name="Before"))
        server.faults.reset_next(method="PATCH")
        injected("REST reset mid-body")
        with pytest.raises(vatel.APIConnectionError):
            await api(lambda c: c.agents.update(agent.id, name="After"))
        assert len(recorded(server, "PATCH", f"/v1/agents/{agent.id}")) == 1 and waits == []
        assert (await api(lambda c: c.agents.get(agent.id))).name == "After"

    async def test_a_recording_cut_mid_stream_leaves_no_file(
        self, api: Api, server: MockServer, tmp_path: Path, waits: list[float]
    ) -> None:
        call_id, whole = await a_call_with_a_recording(api)
        target = tmp_path / "recording.wav"
        progress: list[int] = []
        server.faults.reset_next(path=f"/v1/calls/{call_id}/recording")
        injected("REST reset mid-body")
        with pytest.raises(vatel.APIConnectionError) as info:
            await api(
                lambda c: c.calls.download_recording(
                    call_id, target, on_progress=lambda done, total: progress.append(done)
                )
            )
        assert progress and 0 < progress[-1] < len(whole), "the body was cut part-way"
        assert list(tmp_path.iterdir()) == [], "no partial file and no temporary file"
        assert_no_secret([server.api_key], info.value)
        # The same download then succeeds, whole.
        written = await api(lambda c: c.calls.download_recording(call_id, target))
        assert written == len(whole) and target.read_bytes() == whole
        assert [p.name for p in tmp_path.iterdir()] == ["recording.wav"]

    async def test_a_failed_download_keeps_an_existing_file(
        self, api: Api, server: MockServer, tmp_path: Path, waits: list[float]
    ) -> None:
        call_id, _ = await a_call_with_a_recording(api)
        target = tmp_path / "keep.wav"
        target.write_bytes(b"the previous recording")
        server.faults.reset_next(path=f"/v1/calls/{call_id}/recording")
        injected("REST reset mid-body")
        with pytest.raises(vatel.APIConnectionError):
            await api(lambda c: c.calls.download_recording(call_id, target))
        assert target.read_bytes() == b"the previous recording"
        assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


class TestTruncatedJson:
    """A complete HTTP response whose JSON is cut short is the server breaking the
    contract, not a network hiccup: the SDK reports it as
    ``APIResponseValidationError`` (with the body) and does not send it again."""

    async def test_a_truncated_list_is_a_validation_error_not_a_retry(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.clear_requests()
        server.faults.truncate_next(method="GET", path="/v1/agents")
        injected("REST truncated JSON")
        with pytest.raises(vatel.APIResponseValidationError) as info:
            await api(lambda c: c.agents.list())
        error = info.value
        assert error.status_code == 200 and error.body and error.body.startswith("[")
        assert "/v1/agents" in str(error)
        assert len(recorded(server, "GET", "/v1/agents")) == 1 and waits == []
        assert await api(lambda c: c.agents.list()), "the next call is unaffected"

    async def test_a_truncated_session_token_keeps_the_token_out_of_the_error(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        agent_id = server.agent_ids[0]
        server.faults.truncate_next(method="POST", path="/v1/session-token")
        injected("REST truncated JSON")
        with pytest.raises(vatel.APIResponseValidationError) as info:
            await api(lambda c: c.session_token(agent_id))
        assert len(recorded(server, "POST", "/v1/session-token")) == 1 and waits == []
        error = info.value
        for text in (str(error), repr(error), error.message, error.body or ""):
            assert "eyJ" not in text, "no part of the session token in the error"
        assert '"token"' in (error.body or "") and "***" in (error.body or "")


class TestRetryAfterHttpDate:
    async def test_a_date_in_the_near_future_is_waited_for(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        when = email.utils.formatdate(time.time() + 20, usegmt=True)
        server.fail_next(1, 429, retry_after=when)
        injected("REST 429 with Retry-After date")
        assert await api(lambda c: c.organization.get())
        # The date has whole seconds and a moment passed: anything near 20 s is right.
        assert len(waits) == 1 and 10 <= waits[0] <= 20

    async def test_a_date_in_the_past_means_retry_now(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(1, 503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
        injected("REST 503 with Retry-After date")
        assert await api(lambda c: c.llms.list())
        assert waits == [0.0]

    async def test_a_post_told_to_come_back_at_a_date_is_repeated_once(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        when = email.utils.formatdate(time.time() + 5, usegmt=True)
        server.fail_next(1, 503, retry_after=when, method="POST", path="/v1/agents")
        injected("REST 503 with Retry-After date")
        agent = await api(lambda c: c.agents.create(name="Come back later"))
        assert agent.name == "Come back later" and len(waits) == 1 and 0 <= waits[0] <= 5
        statuses = [r.status for r in recorded(server, "POST", "/v1/agents")]
        assert statuses == [503, 201]

    async def test_a_date_too_far_away_raises_with_the_delay(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        when = email.utils.formatdate(time.time() + 3600, usegmt=True)
        server.fail_next(1, 429, retry_after=when)
        injected("REST 429 with Retry-After date")
        with pytest.raises(vatel.RateLimitError) as info:
            await api(lambda c: c.organization.get())
        assert waits == [] and info.value.retry_after is not None
        assert 3000 <= info.value.retry_after <= 3600


# -- 5xx bursts across many concurrent requests --------------------------------------------

GETS, POSTS = 160, 80
BURST = {"GET 503": 60, "GET 500": 40, "POST 500": 30, "POST 503": 30}


def arm_burst(server: MockServer) -> None:
    """Failures for the next requests, whichever of the concurrent ones they hit."""
    server.fail_next(BURST["GET 503"], 503, method="GET", path="/v1/calls")
    server.fail_next(BURST["GET 500"], 500, method="GET", path="/v1/calls")
    server.fail_next(BURST["POST 500"], 500, method="POST", path="/v1/agents")
    server.fail_next(BURST["POST 503"], 503, method="POST", path="/v1/agents")
    injected("REST 5xx in a concurrent burst", sum(BURST.values()))


def operations() -> list[tuple[str, str, Callable[[Any], Any]]]:
    """(kind, key, operation): listing calls with a unique search, or creating an agent
    with a unique name, so that each request's attempts can be found at the server."""
    ops: list[tuple[str, str, Callable[[Any], Any]]] = []
    for i in range(max(GETS, POSTS)):
        if i < GETS:
            key = f"burst-get-{i}"
            ops.append(("GET", key, lambda c, k=key: c.calls.list_page(search=k)))
        if i < POSTS:
            key = f"burst-post-{i}"
            ops.append(("POST", key, lambda c, k=key: c.agents.create(name=k)))
    return ops


def check_burst(
    server: MockServer, outcomes: dict[str, object], max_retries: int, agent_names: list[str]
) -> None:
    """Every request got its answer or a typed error, after exactly the attempts the
    retry policy allows, and no POST that may have run was sent again."""
    attempts: dict[str, list[int]] = {key: [] for key in outcomes}
    for r in server.requests:
        key = r.query.get("search") if r.method == "GET" else (r.json or {}).get("name")
        if key in attempts:
            attempts[key].append(r.status)
    failures = Counter()
    for key, outcome in outcomes.items():
        statuses = attempts[key]
        *failed, last = statuses
        assert all(s >= 500 for s in failed), (key, statuses)
        failures.update(f"{'GET' if 'get' in key else 'POST'} {s}" for s in statuses if s >= 500)
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, vatel.InternalServerError), repr(outcome)
            assert outcome.status_code == last >= 500
            if "post" in key and last == 500:
                pass  # may have been carried out: never repeated
            else:
                assert len(statuses) == max_retries + 1, (key, statuses)
        else:
            assert 200 <= last < 300 and len(statuses) <= max_retries + 1, (key, statuses)
        if "post" in key:
            # A POST is repeated only after a status saying it was not processed.
            assert all(s == 503 for s in failed), (key, statuses)
            created = agent_names.count(key)
            assert created == (0 if isinstance(outcome, BaseException) else 1), (key, created)
        else:
            # One of the later attempts may take a GET's answer; none is ever lost.
            assert isinstance(outcome, BaseException) or outcome.pagination.page == 1
    assert failures == Counter(BURST), "every injected failure hit exactly one attempt"


async def test_a_5xx_burst_across_many_concurrent_async_requests(
    server: MockServer, waits: list[float]
) -> None:
    arm_burst(server)
    async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:

        async def run(operation: Callable[[Any], Any]) -> object:
            try:
                return await operation(client)
            except vatel.APIError as error:
                return error

        ops = operations()
        results = await asyncio.wait_for(
            asyncio.gather(*(run(operation) for _, _, operation in ops)), 120
        )
        names = [a.name or "" for a in await client.agents.list()]
    check_burst(server, {key: r for (_, key, _), r in zip(ops, results, strict=True)}, 2, names)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert_no_secret([server.api_key], *errors)


def test_a_5xx_burst_across_16_threads_sharing_a_client(
    server: MockServer, waits: list[float]
) -> None:
    arm_burst(server)
    with vatel.Client(api_key=server.api_key, base_url=server.base_url, max_retries=3) as client:

        def run(operation: Callable[[Any], Any]) -> object:
            try:
                return operation(client)
            except vatel.APIError as error:
                return error

        ops = operations()
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(run, operation) for _, _, operation in ops]
            results = [f.result(timeout=120) for f in futures]
        names = [a.name or "" for a in client.agents.list()]
    check_burst(server, {key: r for (_, key, _), r in zip(ops, results, strict=True)}, 3, names)
