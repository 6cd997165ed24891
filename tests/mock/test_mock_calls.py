"""Call history: pagination, filters, single calls and recordings."""

from __future__ import annotations

import io
import itertools
import math
import wave
from datetime import datetime
from typing import Any

import httpx
import pytest
from mock_support import FLAVOURS, request

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


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _conversation_problems(call: dict[str, Any], greeting: str) -> list[str]:
    """What is out of conversational order in ``call``'s transcript (empty: nothing)."""
    entries = call["transcript"]["entries"]
    problems = []
    if [e["index"] for e in entries] != list(range(len(entries))):
        problems.append("indexes are not 0, 1, 2, ...")
    stamps = [_instant(e["createdAt"]) for e in entries]
    if any(later <= earlier for earlier, later in itertools.pairwise(stamps)):
        problems.append("createdAt does not increase")
    if stamps and not (_instant(call["connected_at"]) <= stamps[0]):
        problems.append("an entry before the call connected")
    if stamps and _instant(call["ended_at"]) < stamps[-1]:
        problems.append("an entry after the call ended")
    rows = list(entries)
    if greeting and rows[:1] and rows[0].get("message") == greeting:
        rows = rows[1:]  # the agent's opening line comes first
    expected_role = "user"
    pending_tool: dict[str, Any] | None = None
    for row in rows:
        kind = row["type"]
        if kind == "message":
            if pending_tool is not None:
                problems.append(f"{row['role']} spoke before the output of a tool call")
            if row["role"] != expected_role:
                problems.append(f"entry {row['index']}: {row['role']}, expected {expected_role}")
            expected_role = "assistant" if row["role"] == "user" else "user"
        elif kind == "tool_call":
            if expected_role != "assistant":
                problems.append(f"entry {row['index']}: a tool call that answers nobody")
            pending_tool = row["toolCall"]
            if _instant(pending_tool["endedAt"]) < _instant(pending_tool["startedAt"]):
                problems.append(f"entry {row['index']}: tool call ends before it starts")
        elif kind == "tool_call_output":
            if pending_tool is None:
                problems.append(f"entry {row['index']}: output of no tool call")
            elif row["toolCallOutput"] != pending_tool["output"]:
                problems.append(f"entry {row['index']}: output of another tool call")
            pending_tool = None
    if expected_role != "user":
        problems.append("the caller's last line got no answer")
    return problems


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_seeded_transcripts_are_in_conversational_order(
    server: MockServer, flavour: str
) -> None:
    listed = await request(server, flavour, "GET", "/v1/calls", params={"page_size": 100})
    calls = [c for c in listed.json()["calls"] if c.get("transcript")]
    agents = (await request(server, flavour, "GET", "/v1/agents")).json()
    greetings = {a["id"]: a["first_message"] for a in agents}
    assert len(calls) > 10
    kinds = set()
    for call in calls:
        got = (await request(server, flavour, "GET", f"/v1/calls/{call['id']}")).json()
        assert got["transcript"] == call["transcript"]
        assert _conversation_problems(got, greetings[got["agent_id"]]) == [], got["id"]
        kinds |= {e["type"] for e in got["transcript"]["entries"]}
        tool_ids = [
            e["toolCall"]["callId"] for e in got["transcript"]["entries"] if "toolCall" in e
        ]
        assert len(set(tool_ids)) == len(tool_ids)
    # The seed exercises tools, and both calls that open with a greeting and calls that do not.
    assert {"message", "tool_call", "tool_call_output"} <= kinds
    openers = {c["transcript"]["entries"][0]["role"] for c in calls}
    assert openers == {"user", "assistant"}


def test_the_order_check_catches_an_answer_before_the_question() -> None:
    # The check above would pass anything if it were broken; here it must not.
    call = {
        "connected_at": "2025-01-01T00:00:00.000Z",
        "ended_at": "2025-01-01T00:10:00.000Z",
        "transcript": {
            "entries": [
                {
                    "index": 0,
                    "role": "assistant",
                    "type": "message",
                    "message": "Sure, what's the order number?",
                    "createdAt": "2025-01-01T00:00:01.000Z",
                },
                {
                    "index": 1,
                    "role": "user",
                    "type": "message",
                    "message": "Hi, I'd like to check on my order.",
                    "createdAt": "2025-01-01T00:00:01.000Z",
                },
            ]
        },
    }
    assert _conversation_problems(call, greeting="") == [
        "createdAt does not increase",
        "entry 0: assistant, expected user",
        "the caller's last line got no answer",
    ]
