"""The session's state, owned by the codec: one transition table, commands refused
once the session has ended, and a bounded record of unanswered tool calls."""

from __future__ import annotations

import base64
import json
import logging
import tracemalloc

import pytest

import vatel
from vatel import SessionEndedError
from vatel._protocol import SessionProtocol, SessionState


def frame(type_: str, data: object) -> str:
    return json.dumps({"type": type_, "data": data})


def tool_call(call_id: str, name: str = "lookup", arguments: object = ()) -> str:
    return frame("tool_call", {"toolCallId": call_id, "toolName": name, "arguments": arguments})


STARTED = frame("session_started", {"id": "s-1"})
ENDED = frame("session_ended", {})
AUDIO = frame("response_audio", {"turn_id": "t", "audio": "AAAA" * 2, "is_final": False})
TEXT = frame("response_text", {"turn_id": "t", "text": "bye", "is_final": True})
UNKNOWN = frame("session_summary", {"turns": 3})

ARRIVE = {
    SessionState.OPEN: [],
    SessionState.STARTED: [STARTED],
    SessionState.ENDED: [STARTED, ENDED],
}
"""Frames that bring a fresh session to each state."""


def session_in(state: SessionState) -> SessionProtocol:
    protocol = SessionProtocol()
    for text in ARRIVE[state]:
        protocol.receive(text)
    assert protocol.state is state
    return protocol


class TestTransitions:
    def test_a_session_moves_open_started_ended(self) -> None:
        protocol = SessionProtocol()
        assert protocol.state is SessionState.OPEN and protocol.session_id is None
        protocol.receive(STARTED)
        assert protocol.state is SessionState.STARTED and protocol.session_id == "s-1"
        protocol.receive(TEXT)
        assert protocol.state is SessionState.STARTED
        protocol.receive(ENDED)
        assert protocol.state is SessionState.ENDED and protocol.session_id == "s-1"

    @pytest.mark.parametrize(
        ("state", "text", "after"),
        [
            (SessionState.OPEN, STARTED, SessionState.STARTED),
            (SessionState.OPEN, ENDED, SessionState.ENDED),
            (SessionState.OPEN, AUDIO, SessionState.OPEN),
            (SessionState.OPEN, TEXT, SessionState.OPEN),
            (SessionState.OPEN, tool_call("c"), SessionState.OPEN),
            (SessionState.OPEN, UNKNOWN, SessionState.OPEN),
            (SessionState.STARTED, ENDED, SessionState.ENDED),
            (SessionState.STARTED, AUDIO, SessionState.STARTED),
            (SessionState.STARTED, tool_call("c"), SessionState.STARTED),
            (SessionState.STARTED, UNKNOWN, SessionState.STARTED),
            (SessionState.ENDED, ENDED, SessionState.ENDED),
            (SessionState.ENDED, AUDIO, SessionState.ENDED),
            (SessionState.ENDED, TEXT, SessionState.ENDED),
            (SessionState.ENDED, UNKNOWN, SessionState.ENDED),
        ],
    )
    def test_an_allowed_message_is_delivered_and_moves_the_state(
        self, state: SessionState, text: str, after: SessionState
    ) -> None:
        protocol = session_in(state)
        event = protocol.receive(text)
        assert event.type == json.loads(text)["type"]
        assert protocol.state is after

    @pytest.mark.parametrize(
        ("state", "text"),
        [
            (SessionState.STARTED, frame("session_started", {"id": "s-2"})),
            (SessionState.ENDED, frame("session_started", {"id": "s-2"})),
            (SessionState.ENDED, tool_call("late")),
        ],
    )
    def test_a_message_out_of_place_is_refused_and_changes_nothing(
        self, state: SessionState, text: str
    ) -> None:
        protocol = session_in(state)
        with pytest.raises(vatel.ProtocolError, match=state.value) as info:
            protocol.receive(text)
        assert info.value.frame == text
        assert protocol.state is state
        assert protocol.session_id == "s-1", "the first session id stays"
        assert dict(protocol.pending_tool_calls) == {}

    def test_malformed_frame_leaves_state_alone(self) -> None:
        protocol = session_in(SessionState.STARTED)
        with pytest.raises(vatel.ProtocolError):
            protocol.receive("{")
        assert protocol.state is SessionState.STARTED and protocol.session_id == "s-1"


class TestCommandsAfterTheEnd:
    @pytest.mark.parametrize("state", [SessionState.OPEN, SessionState.STARTED])
    def test_commands_are_framed_until_the_end(self, state: SessionState) -> None:
        protocol = session_in(state)
        assert json.loads(protocol.input_audio_bytes(b"\x01\x00"))["type"] == "input_audio"
        assert json.loads(protocol.input_audio("AQA="))["data"] == {"audio": "AQA="}
        assert json.loads(protocol.tool_call_output("c", "ok"))["type"] == "tool_call_output"

    @pytest.mark.parametrize(
        "command",
        [
            lambda p: p.input_audio_bytes(b"\x01\x00"),
            lambda p: p.input_audio("AQA="),
            lambda p: p.tool_call_output("c", "ok"),
            lambda p: p.input_audio_bytes(b"\x01"),  # bad audio too: the end comes first
        ],
    )
    def test_a_command_after_session_ended_is_refused_locally(self, command: object) -> None:
        protocol = SessionProtocol()
        protocol.receive(tool_call("c"))
        protocol.receive(ENDED)
        with pytest.raises(SessionEndedError) as info:
            command(protocol)  # type: ignore[operator]
        error = info.value
        # The caller's misuse, not the server's doing: no APIError, but it reads
        # as a normal close for code reporting both the same way.
        assert not isinstance(error, vatel.APIError) and isinstance(error, RuntimeError)
        assert (error.code, error.ok) == (1000, True)
        assert "ended" in str(error)
        assert dict(protocol.pending_tool_calls) == {"c": "lookup"}


class TestPendingToolCalls:
    def test_tool_calls_are_pending_until_answered(self) -> None:
        protocol = SessionProtocol()
        protocol.receive(tool_call("a", "weather"))
        protocol.receive(tool_call("b", "time"))
        assert dict(protocol.pending_tool_calls) == {"a": "weather", "b": "time"}
        protocol.tool_call_output("a", "done")
        assert dict(protocol.pending_tool_calls) == {"b": "time"}

    def test_the_oldest_unanswered_call_is_forgotten_past_the_bound(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        protocol = SessionProtocol(max_pending_tool_calls=3)
        with caplog.at_level(logging.DEBUG, logger="vatel"):
            for n in range(9):
                protocol.receive(tool_call(f"call-{n}"))
        assert list(protocol.pending_tool_calls) == ["call-6", "call-7", "call-8"]
        assert protocol.evicted_tool_calls == 6
        forgotten = [r for r in caplog.records if "Forgetting" in r.getMessage()]
        assert [r.levelno for r in forgotten] == [
            logging.WARNING,  # 1st
            logging.WARNING,  # 2nd
            logging.DEBUG,
            logging.WARNING,  # 4th
            logging.DEBUG,
            logging.DEBUG,
        ]
        assert "call-0" in forgotten[0].getMessage()

    def test_an_answer_to_a_forgotten_call_is_still_sent_and_logged_at_debug(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        protocol = SessionProtocol(max_pending_tool_calls=1)
        protocol.receive(tool_call("old"))
        protocol.receive(tool_call("new"))
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="vatel"):
            sent = protocol.tool_call_output("old", "late answer")
            stray = protocol.tool_call_output("never-seen", "x")
        assert json.loads(sent)["data"] == {"toolCallId": "old", "output": "late answer"}
        assert json.loads(stray)["data"]["toolCallId"] == "never-seen"
        levels = {r.getMessage().split(",")[0]: r.levelno for r in caplog.records}
        assert levels == {
            "Sending output for tool call 'old'": logging.DEBUG,
            "Sending output for tool call 'never-seen'": logging.WARNING,
        }
        assert list(protocol.pending_tool_calls) == ["new"]

    def test_a_repeated_call_id_is_pending_once(self) -> None:
        protocol = SessionProtocol(max_pending_tool_calls=2)
        for call_id in ["a", "b", "a", "a"]:
            protocol.receive(tool_call(call_id))
        assert list(protocol.pending_tool_calls) == ["b", "a"]
        assert protocol.evicted_tool_calls == 0

    @pytest.mark.parametrize("bound", [0, -1, True, 2.5, "256"])
    def test_a_bound_that_is_not_a_positive_int_is_refused(self, bound: object) -> None:
        with pytest.raises(ValueError, match="max_pending_tool_calls"):
            SessionProtocol(max_pending_tool_calls=bound)  # type: ignore[arg-type]

    @pytest.mark.timeout(30)
    def test_unanswered_calls_with_many_arguments_hold_almost_no_memory(self) -> None:
        arguments = [
            {"name": f"arg{n}", "value": "x" * 20, "dataType": "string"} for n in range(500)
        ]
        head = tool_call("ID", arguments=arguments)
        protocol = SessionProtocol()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            for n in range(200):
                protocol.receive(head.replace('"ID"', f'"call-{n}"'))
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(protocol.pending_tool_calls) == 200
        # The arguments (200 x 500 of them, some 20 MiB as events) are not kept.
        assert held - before < 256 * 1024

    @pytest.mark.timeout(30)
    def test_huge_call_ids_cannot_grow_the_record_past_its_budget(self) -> None:
        protocol = SessionProtocol()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            for n in range(64):
                protocol.receive(tool_call(f"{n:04d}" + "i" * 200_000))  # 12.8 MB of ids
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert 1 <= len(protocol.pending_tool_calls) <= 6
        assert protocol.evicted_tool_calls == 64 - len(protocol.pending_tool_calls)
        assert held - before < 2 * 1024 * 1024


def test_audio_frames_never_touch_the_state() -> None:
    protocol = session_in(SessionState.STARTED)
    pcm = b"\x01\x02" * 480
    text = frame(
        "response_audio",
        {"turn_id": "t", "audio": base64.b64encode(pcm).decode(), "is_final": True},
    )
    event = protocol.receive(text)
    assert isinstance(event, vatel.ResponseAudio) and event.pcm == pcm
    assert protocol.state is SessionState.STARTED and protocol.session_id == "s-1"
