"""A server of the test's own sends frames the contract forbids, or that mean
something else to another parser, to a real ``vatel.connect()`` and
``vatel.connect_async()`` client: the app sees typed events with printable text,
``ProtocolError`` for the server's faults, a session whose state the server
cannot rewrite, and bounded memory under a flood of tool calls."""

from __future__ import annotations

import base64
import json
import logging
import tracemalloc

import pytest
from hostile_protocol_support import App, memory_bound, session

import vatel
from vatel import SessionEndedError
from vatel._protocol import SessionState

try:
    import orjson
except ImportError:  # pragma: no cover - the speedups extra is optional
    orjson = None  # type: ignore[assignment]

FLAVOURS = ["sync", "async"]
MiB = 1 << 20


def frame(type_: str, data: object) -> str:
    return json.dumps({"type": type_, "data": data})


def audio_frame(audio: str, turn_id: str = "t1") -> str:
    return (
        '{"type":"response_audio","data":{"turn_id":"'
        + turn_id
        + '","audio":"'
        + audio
        + '","is_final":false}}'
    )


PCM = b"\x01\x02" * 480  # 20 ms
GOOD_AUDIO = base64.b64encode(PCM).decode()
STARTED = frame("session_started", {"id": "s-1"})
ENDED = frame("session_ended", {})


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_lone_surrogates_reach_the_app_as_replacement_characters(flavour: str, parser: str) -> None:
    bad = "\\ud800x\\udfff"  # JSON escapes: valid UTF-8 on the wire, lone surrogates once parsed
    script = [
        '{"type":"session_started","data":{"id":"s-' + bad + '"}}',
        '{"type":"response_text","data":{"turn_id":"t","text":"hi ' + bad + '","is_final":true}}',
        '{"type":"response_audio","data":{"turn_id":"'
        + bad
        + '","audio":"'
        + GOOD_AUDIO
        + '","is_final":true}}',
        '{"type":"tool_call","data":{"toolCallId":"c-' + bad + '","toolName":"find",'
        '"arguments":[{"name":"q","value":["' + bad + '"]}]}}',
        '{"type":"agent_mood","data":{"' + bad + '":"' + bad + '"}}',
        ENDED,
    ]
    with memory_bound(8 * MiB), session(flavour, script) as (app, _server):
        events = app.events()
        assert app.conn.session_id == "s-\ufffdx\ufffd"
    fixed = "\ufffdx\ufffd"
    assert events == [
        vatel.SessionStarted("s-" + fixed),
        vatel.ResponseText("t", "hi " + fixed, True),
        vatel.ResponseAudio(fixed, GOOD_AUDIO, True),
        vatel.ToolCall("c-" + fixed, "find", (vatel.ToolCallArgument(name="q", value=[fixed]),)),
        vatel.UnknownEvent("agent_mood", {fixed: fixed}),
        vatel.SessionEnded(),
    ]
    for event in events:
        print(event)  # what crashed before, under a UTF-8 stdout
        str(event).encode("utf-8")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_odd_or_broken_server_audio_is_the_servers_protocol_error(
    flavour: str, parser: str
) -> None:
    odd = audio_frame(base64.b64encode(PCM + b"\x00").decode())  # 961 bytes
    unpadded = audio_frame(GOOD_AUDIO[:-4] + "AA")
    bad_char = audio_frame(GOOD_AUDIO[:-4] + "AA!A")  # the right length, one bad character
    script = [STARTED, odd, unpadded, bad_char, audio_frame(GOOD_AUDIO), ENDED]
    with memory_bound(8 * MiB), session(flavour, script) as (app, _server):
        assert app.recv() == vatel.SessionStarted("s-1")
        for sent, why in [
            (odd, "odd number of bytes"),
            (unpadded, "not valid base64"),
            (bad_char, "not valid base64"),
        ]:
            chunk = app.recv()
            assert isinstance(chunk, vatel.ResponseAudio)
            with pytest.raises(vatel.ProtocolError, match=why) as info:
                _ = chunk.pcm
            assert not isinstance(info.value, vatel.AudioFormatError), "the server's fault"
            kept = info.value.frame  # the chunk as a frame, cut at 1,000 characters
            assert json.loads(sent)["data"]["audio"][:900] in kept, "the frame is kept"
        good = app.recv()
        assert isinstance(good, vatel.ResponseAudio) and good.pcm == PCM
        assert app.recv() == vatel.SessionEnded()
    # An app decoding as it iterates catches the error and goes on with the session.
    with session(flavour, script) as (app, _):
        decoded = []
        for event in app.events():
            if isinstance(event, vatel.ResponseAudio):
                try:
                    decoded.append(len(event.pcm))
                except vatel.ProtocolError:
                    decoded.append(None)
    assert decoded == [None, None, None, len(PCM)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_repeated_type_or_a_big_integer_means_the_same_on_either_parser(
    flavour: str, parser: str
) -> None:
    big = 2**96
    script = [
        STARTED,
        # Starts like an audio frame (the one orjson reads), but the last "type" wins.
        '{"type":"response_audio","type":"tool_call","data":{"toolCallId":"c1",'
        '"toolName":"pay","arguments":[{"name":"cents","value":' + str(big) + "}]}}",
        '{"type":"response_audio","type":"agent_ledger","data":{"total":-' + str(big) + "}}",
        '{"type":"tool_call",' + audio_frame(GOOD_AUDIO)[25:-1] + ',"type":"response_audio"}',
        ENDED,
    ]
    with memory_bound(8 * MiB), session(flavour, script) as (app, server):
        assert app.recv() == vatel.SessionStarted("s-1")
        call = app.recv()
        assert isinstance(call, vatel.ToolCall) and call.tool_call_id == "c1"
        assert call.kwargs == {"cents": big} and type(call.kwargs["cents"]) is int
        app.send_tool_call_output("c1", {"charged": call.kwargs["cents"]})
        assert app.recv() == vatel.UnknownEvent("agent_ledger", {"total": -big})
        audio = app.recv()
        assert isinstance(audio, vatel.ResponseAudio) and audio.pcm == PCM
        assert app.recv() == vatel.SessionEnded()
        app.close()
    assert [json.loads(m) for m in server.received] == [
        {
            "type": "tool_call_output",
            "data": {"toolCallId": "c1", "output": '{"charged": ' + str(big) + "}"},
        }
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_flood_of_unanswered_tool_calls_holds_bounded_memory(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Thousands of DEBUG records (one per frame) would be kept by the log capture
    # and counted here; the bound is on what the SDK holds.
    caplog.set_level(logging.INFO, logger="vatel")
    calls = 1500
    arguments = [{"name": f"a{n}", "value": "v" * 16, "dataType": "string"} for n in range(50)]
    template = frame("tool_call", {"toolCallId": "ID", "toolName": "t", "arguments": arguments})
    script = [STARTED] + [template.replace('"ID"', f'"call-{n}"') for n in range(calls)] + [ENDED]
    with session(flavour, script) as (app, _server):
        protocol = app.conn._protocol
        # The transcript keeps its own bounded record of the calls (the last 1000
        # turns, 32 arguments each; tests/hostile/test_transcript_bounds.py);
        # measured here is the protocol's.
        app.conn.transcript = vatel.Transcript(max_turns=1)
        tracemalloc.start()
        try:
            with memory_bound(16 * MiB) as peak:
                base, _ = tracemalloc.get_traced_memory()
                received = app.drain(lambda event: None)  # an app that never answers
                held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == calls + 2
        assert len(protocol.pending_tool_calls) == 256
        assert protocol.evicted_tool_calls == calls - 256
        assert next(iter(protocol.pending_tool_calls)) == f"call-{calls - 256}", "oldest went first"
        # 1,500 calls of 50 arguments are some 19 MiB as events; the record keeps ids.
        assert held - base < 1 * MiB, f"{(held - base) / MiB:.2f} MiB still held"
        assert peak[0] < 16 * MiB


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_server_cannot_rewrite_an_ended_session(flavour: str) -> None:
    second = frame("session_started", {"id": "s-2"})
    late_start = frame("session_started", {"id": "s-3"})
    late_call = frame("tool_call", {"toolCallId": "c9", "toolName": "t", "arguments": []})
    late_text = frame("response_text", {"turn_id": "t", "text": "bye", "is_final": True})
    script = [STARTED, second, ENDED, late_start, late_call, late_text]
    with memory_bound(8 * MiB), session(flavour, script) as (app, server):
        assert app.recv() == vatel.SessionStarted("s-1")
        with pytest.raises(vatel.ProtocolError, match="started") as info:
            app.recv()
        assert info.value.frame == second
        assert app.recv() == vatel.SessionEnded()
        for refused in (late_start, late_call):
            with pytest.raises(vatel.ProtocolError, match="ended") as info:
                app.recv()
            assert info.value.frame == refused
        assert app.recv() == vatel.ResponseText("t", "bye", True)
        assert app.conn.session_id == "s-1" and app.conn.state is SessionState.ENDED
        assert dict(app.conn._protocol.pending_tool_calls) == {}
        for send in (
            lambda: app.send_input_audio_bytes(PCM),
            lambda: app.send_tool_call_output("c9", "late"),
        ):
            with pytest.raises(SessionEndedError) as ended:
                send()
            assert not isinstance(ended.value, vatel.APIError), "a local error"
        app.close()
    assert server.received == [], "nothing was framed after the end"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_unknown_types_and_new_members_reach_the_app(flavour: str, parser: str) -> None:
    script = [
        '{"type":"session_started","data":{"id":"s-1","region":"eu"},"v":2}',
        '{"type":"agent_mood","data":{"level":3,"tags":["calm"]}}',
        '{"type":"agent_ping"}',
        '{"type":"response_audio","data":{"turn_id":"t1","audio":"' + GOOD_AUDIO + '",'
        '"is_final":false,"codec":{"rate":24000},"seq":[1,2]}}',
        '{"type":"speech_started","data":{"emulated":false,"energy":0.25}}',
        ENDED,
    ]
    with memory_bound(8 * MiB), session(flavour, script) as (app, _server):
        events = app.events()
    assert events == [
        vatel.SessionStarted("s-1"),
        vatel.UnknownEvent("agent_mood", {"level": 3, "tags": ["calm"]}),
        vatel.UnknownEvent("agent_ping", None),
        vatel.ResponseAudio("t1", GOOD_AUDIO, False),
        vatel.SpeechStarted(False),
        vatel.SessionEnded(),
    ]


def test_the_app_surface_runs_the_flavour_it_names() -> None:
    with session("async", [ENDED]) as (app, _server):
        assert isinstance(app.conn, vatel.AsyncConnection)
    with session("sync", [ENDED]) as (app, _server):
        assert isinstance(app.conn, vatel.Connection) and isinstance(app, App)
