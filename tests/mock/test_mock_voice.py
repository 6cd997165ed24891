"""The voice agent: turns, transcripts, audio, interruption, tools and the session record."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest
from mock_support import (
    audio_message,
    connect,
    connect_url,
    final_audio,
    make_client,
    receive,
    receive_until,
    send_audio,
    speech,
)
from websockets.exceptions import ConnectionClosedOK

from _clock import FakeClock
from vatel.audio import FRAME_BYTES, rms, silence, voice_like
from vatel.testing import MockServer
from vatel.testing._voice_agent import FRAME_SECONDS, THINK_SECONDS


def types(messages: list[dict[str, Any]]) -> list[str]:
    """Message types with runs of response_audio collapsed to one."""
    out: list[str] = []
    for message in messages:
        if not (message["type"] == "response_audio" and out and out[-1] == "response_audio"):
            out.append(message["type"])
    return out


@pytest.mark.anyio
async def test_a_full_turn(server: MockServer) -> None:
    agent_id = server.agent_ids[1]  # no first message
    async with connect(connect_url(server, agent_id)) as ws:
        started = await receive(ws)
        assert started["type"] == "session_started"
        await send_audio(ws, speech(1.0, 0.6))
        turn = await receive_until(ws, final_audio)
    assert types(turn) == [
        "speech_started",
        "speech_stopped",
        "input_audio_transcript",
        "input_audio_transcript",
        "response_text",
        "response_text",
        "response_text",
        "response_audio",
    ]
    assert turn[0]["data"] == {"emulated": False}
    assert turn[1]["data"] == {}
    interim, final = turn[2]["data"], turn[3]["data"]
    assert interim["is_final"] is False and final["is_final"] is True
    assert final["transcript"] == "I said something for 1.0 seconds."
    assert interim["turn_id"] == final["turn_id"]
    texts = [m["data"] for m in turn if m["type"] == "response_text"]
    assert [t["is_final"] for t in texts] == [False, False, True]
    assert texts[-1]["text"] == "Got it. You spoke for 1.0 seconds."
    assert all(texts[-1]["text"].startswith(t["text"]) for t in texts)
    audio = [m["data"] for m in turn if m["type"] == "response_audio"]
    assert {a["turn_id"] for a in audio} == {texts[-1]["turn_id"]} != {final["turn_id"]}
    assert [a["is_final"] for a in audio] == [False] * (len(audio) - 1) + [True]
    pcm = b"".join(base64.b64decode(a["audio"]) for a in audio)
    assert all(len(base64.b64decode(a["audio"])) == FRAME_BYTES for a in audio)
    # The reply's length follows its text (about 65 ms a character) and it sounds like speech.
    assert len(audio) == pytest.approx(len(texts[-1]["text"]) * 0.065 / 0.02, abs=1)
    assert rms(pcm) > 0.05


@pytest.mark.anyio
async def test_turns_alternate_and_the_record_is_exact(server: MockServer) -> None:
    agent_id = server.agent_ids[1]
    sent = speech(1.0, 0.6) + speech(0.5, 0.6) + b"\x01\x00" * 7
    async with connect(connect_url(server, agent_id)) as ws:
        await receive(ws)
        await send_audio(ws, speech(1.0, 0.6))
        first = await receive_until(ws, final_audio)
        await send_audio(ws, speech(0.5, 0.6))
        second = await receive_until(ws, final_audio)
        await ws.send(audio_message(b"\x01\x00" * 7))  # odd-sized chunks are fine
        await ws.close()
    finals = [m["data"] for m in first + second if m["type"] == "input_audio_transcript"]
    assert [f["transcript"] for f in finals if f["is_final"]] == [
        "I said something for 1.0 seconds.",
        "I said something for 0.5 seconds.",
    ]
    replies = [m["data"]["text"] for m in first + second if m["type"] == "response_text"]
    assert "Thanks, I heard 0.5 seconds of speech. What else can I do for you?" in replies
    session = server.sessions[0]
    assert session.wait_closed(5)
    assert session.received_audio == sent
    assert session.close_code == 1000
    assert session.rejected == []
    assert [m.type for m in session.received] == ["input_audio"] * len(session.received)
    assert [m.type for m in session.sent][:1] == ["session_started"]
    turn_ids = {m.data["turn_id"] for m in session.sent if m.type == "response_audio"}
    assert len(turn_ids) == 2


@pytest.mark.anyio
async def test_first_message_and_token_override(server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    async with connect(connect_url(server, agent_id)) as ws:
        greeting = await receive_until(ws, final_audio)
    texts = [m["data"]["text"] for m in greeting if m["type"] == "response_text"]
    assert texts[-1] == "Hello! Thanks for calling Acme. How can I help you today?"
    token = server.issue_token(agent_id, first_message="Howdy.")
    async with connect(connect_url(server, agent_id, token)) as ws:
        greeting = await receive_until(ws, final_audio)
    texts = [m["data"]["text"] for m in greeting if m["type"] == "response_text"]
    assert texts == ["Howdy."]
    assert server.sessions[1].first_message == "Howdy."


@pytest.mark.timeout(30)
@pytest.mark.anyio
async def test_end_of_turn_when_audio_stops_arriving() -> None:
    with MockServer(pace=0) as server:
        agent_id = server.agent_ids[1]
        async with connect(connect_url(server, agent_id)) as ws:
            await receive(ws)
            await send_audio(ws, voice_like(0.5))  # then nothing: no trailing silence
            with anyio.fail_after(10):  # the stop timer, not the idle timeout (30 s)
                turn = await receive_until(ws, final_audio)
        session = server.sessions[0]
        assert session.wait_closed(5)
    assert types(turn)[:2] == ["speech_started", "speech_stopped"]
    # Nothing but speech ever arrived, so only the missing audio can have ended
    # the turn, and it ended after all of it: the turn is the whole half second.
    assert session.received_audio == voice_like(0.5)
    finals = [m["data"] for m in turn if m["type"] == "input_audio_transcript"]
    assert finals[-1]["transcript"] == "I said something for 0.5 seconds."


@pytest.mark.anyio
async def test_interruption_stops_the_agent_audio() -> None:
    with MockServer(pace=4) as server:
        agent_id = server.agent_ids[0]  # greets for about 3.8 s of audio
        async with connect(connect_url(server, agent_id)) as ws:
            await receive(ws)  # session_started
            before = await receive_until(ws, lambda m: m["type"] == "response_audio")
            await send_audio(ws, voice_like(0.3))
            after = await receive_until(ws, lambda m: m["type"] == "interruption")
            await send_audio(ws, silence(0.6))
            reply = await receive_until(ws, final_audio)
        greeting_turn = before[-1]["data"]["turn_id"]
        assert after[-1]["data"] == {}
        assert "speech_started" in types(after)
        assert types(after).index("speech_started") < types(after).index("interruption")
        greeting_audio = [
            m
            for m in before + after + reply
            if m["type"] == "response_audio" and m["data"]["turn_id"] == greeting_turn
        ]
        assert greeting_audio and not any(m["data"]["is_final"] for m in greeting_audio)
        assert len(greeting_audio) < 40  # far less than the whole greeting
        assert not any(
            m["type"] == "response_audio" and m["data"]["turn_id"] == greeting_turn for m in reply
        )
        assert reply[-1]["data"]["turn_id"] != greeting_turn
        assert server.sessions[0].wait_closed(5)
        with make_client(server) as api:
            call = api.get(f"/v1/calls/{server.sessions[0].id}").json()
    assert "interruption" in [e["type"] for e in call["transcript"]["entries"]]


def paced_server(clock: FakeClock, pace: float) -> MockServer:
    """A mock server whose agent paces its audio on ``clock``."""
    return MockServer(pace=pace, clock=clock, sleep=clock.asleep)


def audio_frames(messages: list[dict[str, Any]]) -> int:
    return sum(m["type"] == "response_audio" for m in messages)


@pytest.mark.timeout(30)
@pytest.mark.anyio
@pytest.mark.parametrize("tick", [0.0, 0.004], ids=["instant-sends", "4-ms-per-send"])
async def test_pace_releases_audio_frames_on_schedule(
    tick: float,
) -> None:
    clock = FakeClock(tick=tick)
    with paced_server(clock, pace=2) as server:
        async with connect(connect_url(server, server.agent_ids[0])) as ws:
            greeting = await receive_until(ws, final_audio)  # the agent greets at once
    frames = audio_frames(greeting)
    assert frames > 100
    # At twice real time frame k is released k * 10 ms after the first one, on
    # the dot however long each send took ("tick"): the waits absorb the work
    # instead of adding it up. The first frame does not wait.
    step = FRAME_SECONDS / 2
    start = clock.readings[0]
    assert [wake - start for wake in clock.wakes] == pytest.approx(
        [k * step for k in range(1, frames)], abs=1e-9
    )
    assert all(0 < wait <= step + 1e-9 for wait in clock.sleeps)


@pytest.mark.timeout(30)
@pytest.mark.anyio
@pytest.mark.parametrize("pace", [2, 0])
async def test_the_agent_pauses_before_answering_unless_pace_is_zero(
    pace: float,
) -> None:
    clock = FakeClock()
    with paced_server(clock, pace=pace) as server:
        async with connect(connect_url(server, server.agent_ids[1])) as ws:
            await receive(ws)
            await send_audio(ws, speech())
            turn = await receive_until(ws, final_audio)
    frames = audio_frames(turn)
    assert frames > 50
    if pace:
        # THINK_SECONDS / pace of thought, then one frame every 20 ms / pace.
        expected = [THINK_SECONDS / pace] + [FRAME_SECONDS / pace] * (frames - 1)
        assert clock.sleeps == pytest.approx(expected, abs=1e-9)
    else:
        assert clock.sleeps == []  # as fast as possible: never a wait
        assert clock.readings == []


@pytest.mark.anyio
async def test_client_tool_round_trip(server: MockServer) -> None:
    agent_id = server.agent_ids[1]
    server.add_client_tool(
        agent_id,
        "lookup_order",
        arguments=[{"name": "order_id", "value": "4419"}, {"name": "count", "dataType": "number"}],
    )
    async with connect(connect_url(server, agent_id)) as ws:
        await receive(ws)
        await send_audio(ws, speech())
        upto_tool = await receive_until(ws, lambda m: m["type"] == "tool_call")
        call = upto_tool[-1]["data"]
        assert call["toolName"] == "lookup_order"
        assert [(a["name"], a["value"]) for a in call["arguments"]] == [
            ("order_id", "4419"),
            ("count", 1),
        ]
        assert all(
            set(a) == {"name", "type", "dataType", "description", "required", "value"}
            for a in call["arguments"]
        )
        await ws.send(
            json.dumps({"type": "tool_call_output", "data": {"toolCallId": "nope", "output": "x"}})
        )
        output = {"toolCallId": call["toolCallId"], "output": "shipped"}
        await ws.send(json.dumps({"type": "tool_call_output", "data": output}))
        reply = await receive_until(ws, final_audio)
        text = [m["data"]["text"] for m in reply if m["type"] == "response_text"][-1]
        assert text == "The lookup_order tool returned: shipped"
        # The tool was called once; the next turn is an ordinary one.
        await send_audio(ws, speech())
        later = await receive_until(ws, final_audio)
        assert "tool_call" not in types(later)
    session = server.sessions[0]
    assert session.wait_closed(5)
    assert [(o.tool_call_id, o.output, o.known) for o in session.tool_outputs] == [
        ("nope", "x", False),
        (call["toolCallId"], "shipped", True),
    ]
    with make_client(server) as api:
        entries = api.get(f"/v1/calls/{session.id}").json()["transcript"]["entries"]
    tool_rows = [e for e in entries if e["type"] == "tool_call"]
    assert tool_rows[0]["toolCall"]["output"] == "shipped"


@pytest.mark.anyio
async def test_idle_sessions_end() -> None:
    with MockServer(pace=0, idle_timeout=0.3) as server:
        async with connect(connect_url(server, server.agent_ids[1])) as ws:
            # The client sends nothing: the server's idle timer is what ends it.
            assert (await receive(ws))["type"] == "session_started"
            assert (await receive(ws))["type"] == "session_ended"
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1000
        assert server.sessions[0].wait_closed(5)
        assert server.sessions[0].close_code == 1000


@pytest.mark.anyio
async def test_end_session_from_the_test(server: MockServer) -> None:
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        started = await receive(ws)
        server.end_session(started["data"]["id"])
        assert (await receive(ws))["type"] == "session_ended"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    session = server.sessions[0]
    assert session.wait_closed(5) and session.close_code == 1000
    with pytest.raises(KeyError):
        server.end_session("no-such-session")
    with make_client(server) as api:
        call = api.get(f"/v1/calls/{session.id}").json()
    assert call["status"] == "ended" and call["source"] == "api"
    assert call["termination_reason"] == "ended_by_agent"


@pytest.mark.anyio
async def test_sessions_show_up_as_calls(server: MockServer) -> None:
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        started = await receive(ws)
        with make_client(server) as api:
            live = api.get(f"/v1/calls/{started['data']['id']}").json()
        assert live["status"] == "in_progress" and live["source"] == "api"
        await send_audio(ws, speech())
        await receive_until(ws, final_audio)
    assert server.sessions[0].wait_closed(5)
    with make_client(server) as api:
        ended = api.get(f"/v1/calls/{started['data']['id']}").json()
        listed = api.get("/v1/calls", params={"source": "api", "status": "ended"}).json()
    assert ended["termination_reason"] == "ended_by_user"
    roles = [(e["role"], e["message"]) for e in ended["transcript"]["entries"]]
    assert roles == [
        ("user", "I said something for 1.0 seconds."),
        ("assistant", "Got it. You spoke for 1.0 seconds."),
    ]
    assert ended["id"] in [c["id"] for c in listed["calls"]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"data": {}}', "no string 'type'"),
        ('{"type": "dance", "data": {}}', "unknown message type"),
        ('{"type": "input_audio", "data": {}}', "data.audio must be a base64 string"),
        ('{"type": "input_audio", "data": {"audio": "%%%"}}', "not valid base64"),
        ('{"type": "input_audio", "data": {"audio": "AAAA"}}', "odd byte count"),
        ('{"type": "tool_call_output", "data": {"toolCallId": 1}}', "must be strings"),
        (b"\x00\x01", "binary frame"),
    ],
)
async def test_malformed_client_frames_are_recorded_and_ignored(
    server: MockServer, frame: str | bytes, error: str
) -> None:
    async with connect(connect_url(server, server.agent_ids[1])) as ws:
        await receive(ws)
        await ws.send(frame)
        await send_audio(ws, speech())  # the session carries on
        await receive_until(ws, final_audio)
    session = server.sessions[0]
    assert session.wait_closed(5)
    [rejected] = session.rejected
    assert error in (rejected.error or "")
    assert rejected.raw == frame
    assert session.received[0] == rejected
    assert session.received_audio == speech()


async def run_concurrent_sessions(count: int) -> None:
    """``count`` sessions at once, one turn each, from this one process."""
    with MockServer(pace=0) as server:
        agent_id = server.agent_ids[1]
        url = connect_url(server, agent_id)  # one token serves many sessions
        pcm = speech(0.4, 0.5)
        finals: list[str] = []

        async def one() -> None:
            async with connect(url) as ws:
                await ws.recv()
                await send_audio(ws, pcm)
                while True:
                    # Plain parsing: validating thousands of messages would dominate the run.
                    message = json.loads(await ws.recv())
                    data = message["data"]
                    if message["type"] == "input_audio_transcript" and data["is_final"]:
                        finals.append(data["transcript"])
                    if final_audio(message):
                        return

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for _ in range(count):
                    group.start_soon(one)
        assert finals == ["I said something for 0.4 seconds."] * count
        assert len(server.sessions) == count
        assert all(s.wait_closed(5) for s in server.sessions)
        assert all(s.received_audio == pcm and s.close_code == 1000 for s in server.sessions)


@pytest.mark.anyio
async def test_many_concurrent_sessions() -> None:
    await run_concurrent_sessions(150)


@pytest.mark.slow
@pytest.mark.anyio
async def test_five_hundred_concurrent_sessions() -> None:
    await run_concurrent_sessions(500)
