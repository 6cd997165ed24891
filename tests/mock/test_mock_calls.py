"""Call history: pagination, filters, single calls and recordings."""

from __future__ import annotations

import io
import math
import wave
from datetime import datetime
from typing import Any

import httpx
import pytest

from vatel.audio import SAMPLE_RATE
from vatel.testing import MockServer


def all_calls(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    calls, page = [], 1
    while True:
        body = api.get("/v1/calls", params={**params, "page": page, "page_size": 7}).json()
        calls += body["calls"]
        if not body["pagination"]["has_next"]:
            return calls
        page += 1


def test_seeded_calls_cover_every_status_and_source(api: httpx.Client) -> None:
    calls = all_calls(api)
    assert len(calls) == 45
    assert {c["status"] for c in calls} == {
        "connected",
        "started",
        "in_progress",
        "auth_failed",
        "ended",
    }
    assert {c["source"] for c in calls} == {"twilio", "sip", "simulation", "api"}
    assert any("transcript" in c for c in calls) and any("transcript" not in c for c in calls)
    assert len({c["id"] for c in calls}) == 45


def test_pagination_math(api: httpx.Client) -> None:
    first = api.get("/v1/calls").json()
    assert first["pagination"] == {
        "page": 1,
        "page_size": 20,
        "total": 45,
        "total_pages": 3,
        "has_next": True,
        "has_prev": False,
    }
    assert len(first["calls"]) == 20
    last = api.get("/v1/calls", params={"page": 3}).json()
    assert len(last["calls"]) == 5
    assert last["pagination"]["has_next"] is False and last["pagination"]["has_prev"] is True
    beyond = api.get("/v1/calls", params={"page": 9}).json()
    assert beyond["calls"] == [] and beyond["pagination"]["has_prev"] is True
    everything = api.get("/v1/calls", params={"page_size": 100}).json()
    assert everything["pagination"]["total_pages"] == 1
    created = [c["created_at"] for c in everything["calls"]]
    assert created == sorted(created, reverse=True)
    paged = [c["id"] for c in all_calls(api)]
    assert paged == [c["id"] for c in everything["calls"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page_size": 101}, "page_size must be at most 100"),
        ({"page_size": 0}, "page_size must be a positive integer"),
        ({"page": "two"}, "page must be a positive integer"),
        ({"page": -1}, "page must be a positive integer"),
        ({"status": "done"}, "status must be one of"),
        ({"source": "fax"}, "source must be one of"),
        ({"outbound": "yes"}, "outbound must be one of: true, false"),
        ({"outcome": "hung_up"}, "outcome must be one of"),
        ({"agent_ids": "abc"}, "agent_ids must be comma-separated UUIDs"),
        ({"organization_id": "abc"}, "organization_id must be a UUID"),
        ({"date_from": "yesterday"}, "date_from must be an RFC 3339"),
        ({"search": "x" * 257}, "search must be at most 256 characters"),
        ({"tag": "x" * 129}, "tag must be at most 128 characters"),
    ],
)
def test_invalid_filters_are_400(api: httpx.Client, params: dict[str, Any], message: str) -> None:
    response = api.get("/v1/calls", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("status", "ended", "status"),
        ("status", "auth_failed", "status"),
        ("source", "sip", "source"),
        ("outcome", "transferred", "termination_reason"),
        ("outcome", "ended_by_user", "termination_reason"),
    ],
)
def test_equality_filters(api: httpx.Client, name: str, value: str, key: str) -> None:
    expected = [c["id"] for c in all_calls(api) if c.get(key) == value]
    assert expected
    found = api.get("/v1/calls", params={name: value, "page_size": 100}).json()
    assert [c["id"] for c in found["calls"]] == expected
    assert found["pagination"]["total"] == len(expected)
    assert found["pagination"]["total_pages"] == math.ceil(len(expected) / 100)


def test_outbound_agent_tag_and_search_filters(api: httpx.Client, server: MockServer) -> None:
    calls = all_calls(api)
    outbound = all_calls(api, outbound="true")
    assert outbound and all(c["outbound"] for c in outbound)
    assert len(outbound) + len(all_calls(api, outbound="false")) == len(calls)

    orders = server.agent_ids[1]
    by_agent = all_calls(api, agent_ids=orders)
    assert by_agent and all(c["agent_id"] == orders for c in by_agent)
    both = all_calls(api, agent_ids=",".join(server.agent_ids))
    assert len(both) == len(calls)

    tagged = all_calls(api, tag="vip")
    assert tagged and all("vip" in c["tags"] for c in tagged)
    assert len(tagged) == sum("vip" in c["tags"] for c in calls)

    number = next(c["party_number"] for c in calls if c["party_number"])
    found = all_calls(api, search=number[-4:])
    assert number in [c["party_number"] for c in found]
    assert all(number[-4:] in c["party_number"] for c in found)


def test_date_filters_are_inclusive(api: httpx.Client) -> None:
    calls = all_calls(api)
    stamps = sorted(c["created_at"] for c in calls)
    middle = stamps[len(stamps) // 2]
    since = all_calls(api, date_from=middle)
    until = all_calls(api, date_to=middle)
    assert len(since) + len(until) == len(calls) + stamps.count(middle)
    assert all(c["created_at"] >= middle for c in since)
    day = datetime.fromisoformat(middle.replace("Z", "+00:00")).date().isoformat()
    assert all(c["created_at"] >= day for c in all_calls(api, date_from=day))
    window = all_calls(api, date_from=stamps[0], date_to=stamps[0])
    assert [c["created_at"] for c in window] == [stamps[0]]


def test_get_call(api: httpx.Client) -> None:
    listed = api.get("/v1/calls", params={"status": "ended", "page_size": 1}).json()["calls"][0]
    assert api.get(f"/v1/calls/{listed['id']}").json() == listed


def test_recording_is_a_streamed_wav(api: httpx.Client) -> None:
    calls = all_calls(api, status="ended")
    for call in calls:
        response = api.get(f"/v1/calls/{call['id']}/recording")
        if response.status_code == 200:
            break
    else:
        pytest.fail("no seeded call has a recording")
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{call["id"]}.wav"'
    assert int(response.headers["Content-Length"]) == len(response.content)
    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        assert 2.0 <= wav.getnframes() / SAMPLE_RATE <= 3.5
    # The same call gives the same bytes.
    assert api.get(f"/v1/calls/{call['id']}/recording").content == response.content


def test_recordings_differ_and_some_calls_have_none(api: httpx.Client) -> None:
    bodies, missing = set(), 0
    for call in all_calls(api):
        response = api.get(f"/v1/calls/{call['id']}/recording")
        if response.status_code == 404:
            assert response.json() == {"error": "recording not found"}
            missing += 1
        else:
            bodies.add(response.content)
    assert missing and len(bodies) > 10
