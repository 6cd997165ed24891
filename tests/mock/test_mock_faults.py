"""Every fault switch, REST and voice, and that they are off once used or reset."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from mock_support import (
    FLAVOURS,
    connect,
    connect_url,
    final_audio,
    make_client,
    receive,
    receive_until,
    request,
    send_audio,
    speech,
)
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from vatel.testing import MalformedKind, MockServer


@pytest.fixture
def api(server: MockServer) -> Iterator[httpx.Client]:
    """A client that does not hold injected failures to the contract."""
    with make_client(server, checked=False) as client:
        yield client


def audio_count(messages: list[dict[str, Any]]) -> int:
    return sum(m["type"] == "response_audio" for m in messages)


# REST


def test_fail_next_with_retry_after(api: httpx.Client, server: MockServer) -> None:
    server.fail_next(2, 503, retry_after=2)
    for _ in range(2):
        response = api.get("/v1/agents")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert response.json() == {"error": "injected failure (503)"}
    assert api.get("/v1/agents").status_code == 200
    assert [r.status for r in server.requests] == [503, 503, 200]


def test_fail_next_matches_method_and_path(api: httpx.Client, server: MockServer) -> None:
    server.fail_next(1, 429, retry_after=0.5, method="post", path="/v1/agents")
    assert api.get("/v1/agents").status_code == 200
    limited = api.post("/v1/agents", json={"name": "x"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "0.5"
    assert api.post("/v1/agents", json={"name": "x"}).status_code == 201
    server.fail_next(1, 500, path="/v1/calls/*")
    assert api.get("/v1/calls").status_code == 200
    assert api.get(f"/v1/calls/{server.organization_id}").status_code == 500


def test_fail_next_with_a_custom_body(api: httpx.Client, server: MockServer) -> None:
    server.fail_next(1, 502, body="<html>bad gateway</html>")
    response = api.get("/v1/llms")
    assert response.status_code == 502 and response.text == "<html>bad gateway</html>"
    assert "Retry-After" not in response.headers
    server.fail_next(1, 500, body={"error": "database unavailable", "code": 7})
    assert api.get("/v1/llms").json() == {"error": "database unavailable", "code": 7}


def test_fail_next_comes_before_authentication(server: MockServer) -> None:
    server.fail_next(1, 503)
    with make_client(server, checked=False, headers={}) as anonymous:
        assert anonymous.get("/v1/agents").status_code == 503
        assert anonymous.get("/v1/agents").status_code == 401


@pytest.mark.timeout(20)
@pytest.mark.anyio
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_delay_next_outlasts_a_client_timeout(server: MockServer, flavour: str) -> None:
    # Held 30 s, far past the client's 0.2 s: only the client's timeout can end it.
    server.faults.delay_next(30.0, path="/v1/organization")
    with pytest.raises(httpx.ReadTimeout):
        await request(server, flavour, "GET", "/v1/organization", timeout=0.2)
    assert (await request(server, flavour, "GET", "/v1/organization")).status_code == 200


@pytest.mark.timeout(20)
@pytest.mark.anyio
@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_delayed_response_arrives_late(server: MockServer, flavour: str) -> None:
    server.faults.delay_next(0.5, count=2, path="/v1/llms")
    # Held back: a client that waits less than the delay gets nothing ...
    with pytest.raises(httpx.ReadTimeout):
        await request(server, flavour, "GET", "/v1/llms", timeout=0.05)
    # ... and one that waits longer gets the whole, ordinary answer.
    late = await request(server, flavour, "GET", "/v1/llms", timeout=10)
    assert late.status_code == 200
    assert late.json() == (await request(server, flavour, "GET", "/v1/llms")).json()


def test_reset_next_cuts_the_body(api: httpx.Client, server: MockServer) -> None:
    server.faults.reset_next(path="/v1/agents")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/v1/agents")
    assert api.get("/v1/agents").status_code == 200


def test_truncate_next_sends_broken_json(api: httpx.Client, server: MockServer) -> None:
    server.faults.truncate_next(count=2)
    for _ in range(2):
        response = api.get("/v1/agents")
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert api.get("/v1/agents").json()


def test_recording_faults(server: MockServer, api: httpx.Client) -> None:
    calls = api.get("/v1/calls", params={"status": "ended", "page_size": 100}).json()["calls"]
    call_id = next(
        c["id"] for c in calls if api.get(f"/v1/calls/{c['id']}/recording").status_code == 200
    )
    path = f"/v1/calls/{call_id}/recording"
    whole = api.get(path).content
    server.faults.reset_next(path=path)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(path)
    server.faults.truncate_next(path=path)
    short = api.get(path)
    assert short.content == whole[: len(whole) // 2]
    assert int(short.headers["Content-Length"]) == len(short.content)


def test_faults_reset_disarms_everything(api: httpx.Client, server: MockServer) -> None:
    server.fail_next(5, 500)
    server.faults.delay_next(5)
    server.faults.hang_handshake(count=3)
    server.faults.close_after(0, sessions=None)
    server.faults.reset()
    assert api.get("/v1/agents").status_code == 200


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.fail_next(0, 500),
        lambda f: f.fail_next(1, 200),
        lambda f: f.delay_next(-1),
        lambda f: f.close_after(-1),
        lambda f: f.close_after(1, code=1006),
        lambda f: f.close_after(1, code=1005),
        lambda f: f.close_after(1, sessions=0),
        lambda f: f.send_oversized(10),
        lambda f: f.send_malformed("gibberish"),
        lambda f: f.hang_handshake(count=0),
    ],
)
def test_fault_arguments_are_checked(server: MockServer, call: object) -> None:
    with pytest.raises(ValueError):
        call(server.faults)  # type: ignore[operator]


# Voice


@pytest.mark.anyio
@pytest.mark.parametrize("code", [1011, 1000, 1001, 4000])
async def test_close_after_chunks(server: MockServer, code: int) -> None:
    server.faults.close_after(3, code=code, reason="injected")
    async with connect(connect_url(server, server.agent_ids[0])) as ws:  # greets at once
        got = []
        expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
        with pytest.raises(expected) as info:
            while True:
                got.append(await receive(ws))
    assert got[0]["type"] == "session_started" and audio_count(got) == 3
    assert got[-1]["type"] == "response_audio"
    assert "session_ended" not in [m["type"] for m in got]
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (code, "injected")
    session = server.sessions[0]
    assert session.wait_closed(5) and session.close_code == code
    # Only the next session was affected.
    async with connect(connect_url(server, server.agent_ids[0])) as ws:
        assert audio_count(await receive_until(ws, final_audio)) > 3


@pytest.mark.anyio
async def test_close_right_after_session_started(server: MockServer) -> None:
    server.faults.close_after(0, code=1011, sessions=2)
    for _ in range(3):
        async with connect(connect_url(server, server.agent_ids[1])) as ws:
            await receive(ws)
            if len(server.sessions) <= 2:
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
    assert [s.close_code for s in server.sessions[:2]] == [1011, 1011]
    assert server.sessions[2].wait_closed(5) and server.sessions[2].close_code == 1000


@pytest.mark.anyio
async def test_drop_after_chunks(server: MockServer) -> None:
    server.faults.drop_after(2)
    async with connect(connect_url(server, server.agent_ids[0])) as ws:
        got = []
        with pytest.raises(ConnectionClosedError) as info:
            while True:
                got.append(await receive(ws))
    assert info.value.rcvd is None  # no close frame
    assert audio_count(got) == 2 and got[-1]["type"] == "response_audio"
    assert server.sessions[0].wait_closed(5) and server.sessions[0].close_code == 1006


@pytest.mark.anyio
async def test_go_silent_stops_messages_and_pongs(server: MockServer) -> None:
    server.faults.go_silent_after(1)
    async with connect(connect_url(server, server.agent_ids[0]), ping_interval=None) as ws:
        await receive_until(ws, lambda m: m["type"] == "response_audio")
        pong = await ws.ping()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(pong, 0.3)
        await send_audio(ws, speech())  # still read and recorded, never answered
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
    session = server.sessions[0]
    assert session.wait_closed(5)
    assert session.received_audio == speech()
    assert [m.type for m in session.sent if m.type != "response_text"] == [
        "session_started",
        "response_audio",
    ]


@pytest.mark.anyio
async def test_keepalive_notices_a_silent_server(server: MockServer) -> None:
    server.faults.go_silent_after(0)
    url = connect_url(server, server.agent_ids[1])
    async with connect(url, ping_interval=0.1, ping_timeout=0.2) as ws:
        await receive(ws)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), 3)
    assert info.value.sent is not None and info.value.sent.code == 1011


@pytest.mark.anyio
async def test_ignore_pings_only(server: MockServer) -> None:
    server.faults.ignore_pings()
    async with connect(connect_url(server, server.agent_ids[1]), ping_interval=None) as ws:
        await receive(ws)
        pong = await ws.ping()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(pong, 0.3)
        await send_audio(ws, speech())
        turn = await receive_until(ws, final_audio)
        assert turn[0]["type"] == "speech_started"
    # Without the fault, pings are answered.
    async with connect(connect_url(server, server.agent_ids[1]), ping_interval=None) as ws:
        await receive(ws)
        await asyncio.wait_for(await ws.ping(), 1)


@pytest.mark.anyio
async def test_send_oversized(server: MockServer) -> None:
    server.faults.send_oversized(5000)
    async with connect(connect_url(server, server.agent_ids[1]), max_size=4096) as ws:
        await receive(ws)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
    assert info.value.sent is not None and info.value.sent.code == 1009
    session = server.sessions[0]
    assert session.wait_closed(5) and session.close_code == 1009
    # Only the size is wrong: a client that allows it gets a valid message.
    server.faults.send_oversized(5000)
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        await receive(ws)
        raw = await ws.recv()
    assert len(raw) == 5000
    message = json.loads(raw)
    assert message["type"] == "response_text" and set(message["data"]) == {
        "turn_id",
        "text",
        "is_final",
    }


def _not_json(raw: str | bytes) -> bool:
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return True
    return False


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("non_json", _not_json),
        ("not_object", lambda raw: isinstance(json.loads(raw), list)),
        ("missing_type", lambda raw: "type" not in json.loads(raw)),
        ("wrong_data", lambda raw: json.loads(raw)["data"].get("turn_id") == 7),
        ("unknown_type", lambda raw: json.loads(raw)["type"] == "agent_mood"),
        ("binary", lambda raw: isinstance(raw, bytes)),
    ],
)
async def test_send_malformed(
    server: MockServer, kind: MalformedKind, check: Callable[[str | bytes], bool]
) -> None:
    server.faults.send_malformed(kind, after_chunks=2)
    frames: list[str | bytes] = []
    async with connect(connect_url(server, server.agent_ids[0])) as ws:
        while not frames or check(frames[-1]) or not final_audio(json.loads(frames[-1])):
            frames.append(await ws.recv())
    [bad] = [i for i, frame in enumerate(frames) if check(frame)]
    before = [json.loads(frame) for frame in frames[:bad]]
    assert audio_count(before) == 2 and before[-1]["type"] == "response_audio"
    assert json.loads(frames[bad + 1])["type"] == "response_audio"  # and then it carries on
    injected = [m for m in server.sessions[0].sent if m.error]
    assert [m.error for m in injected] == [f"injected {kind}"]


@pytest.mark.timeout(20)
@pytest.mark.anyio
async def test_hang_handshake(server: MockServer) -> None:
    server.faults.hang_handshake()
    url = connect_url(server, server.agent_ids[1])
    # No answer at all: only the client's own open timeout ends the wait.
    with pytest.raises((TimeoutError, asyncio.TimeoutError)):
        async with connect(url, open_timeout=0.3):
            pass
    assert server.sessions == [], "the hung handshake opened no session"
    async with connect(url, open_timeout=5) as ws:  # only the next one hangs
        assert (await receive(ws))["type"] == "session_started"
    assert len(server.sessions) == 1


@pytest.mark.timeout(20)
@pytest.mark.anyio
async def test_stop_releases_a_hung_handshake() -> None:
    server = MockServer(pace=0).start()
    try:
        server.faults.hang_handshake()
        hung = socket.create_connection(("127.0.0.1", server.port))
        hung.settimeout(10)
        url = connect_url(server, server.agent_ids[1])
        hung.sendall(b"GET /v1/connection HTTP/1.1\r\nHost: x\r\n\r\n")
        # The one hang armed is taken by the first handshake the server reads, so
        # a second handshake that opens shows the first one is parked in it.
        async with connect(url, open_timeout=5) as ws:
            assert (await receive(ws))["type"] == "session_started"
    finally:
        await asyncio.to_thread(server.stop)
    # Released by the stop signal with an answer, not cut off when the shutdown
    # grace period ran out.
    answer = hung.recv(4096)
    hung.close()
    assert answer.startswith(b"HTTP/1.1 503"), answer[:100]


@pytest.mark.anyio
async def test_faults_for_every_session(server: MockServer) -> None:
    server.faults.close_after(0, code=4001, sessions=None)
    for _ in range(3):
        async with connect(connect_url(server, server.agent_ids[1])) as ws:
            await receive(ws)
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
    server.faults.reset()
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        await receive(ws)
        await send_audio(ws, speech())
        await receive_until(ws, final_audio)
