"""What a frame means does not depend on the JSON parser: orjson (the speedups
extra) and the standard library give the same events for the same text, including
repeated keys, big integers, deep nesting and lone surrogates."""

from __future__ import annotations

import base64
import json

import pytest

import vatel
from vatel import _protocol
from vatel._protocol import SessionProtocol

try:
    import orjson
except ImportError:  # pragma: no cover - the speedups extra is optional
    orjson = None  # type: ignore[assignment]

AUDIO_B64 = base64.b64encode(b"\x10\x00" * 480).decode()
AUDIO_DATA = '"data":{"turn_id":"t1","audio":"' + AUDIO_B64 + '","is_final":false}'
BIG = 2**96


def receive(text: str) -> vatel.Event:
    return SessionProtocol().receive(text)


class TestRepeatedKeys:
    def test_a_second_type_after_an_audio_type_wins(self, parser: str) -> None:
        text = (
            '{"type":"response_audio","type":"tool_call","data":{"toolCallId":"c",'
            '"toolName":"pay","arguments":[{"name":"cents","value":' + str(BIG) + "}]}}"
        )
        event = receive(text)
        assert isinstance(event, vatel.ToolCall)
        assert event.kwargs == {"cents": BIG} and type(event.kwargs["cents"]) is int

    def test_an_audio_type_after_another_type_wins(self, parser: str) -> None:
        event = receive('{"type":"tool_call",' + AUDIO_DATA + ',"type":"response_audio"}')
        assert isinstance(event, vatel.ResponseAudio) and event.turn_id == "t1"

    def test_a_repeated_member_inside_data_takes_the_last(self, parser: str) -> None:
        text = '{"type":"response_audio",' + AUDIO_DATA[:-1] + ',"turn_id":"t2"}}'
        event = receive(text)
        assert isinstance(event, vatel.ResponseAudio) and event.turn_id == "t2"

    def test_an_audio_type_then_text_type_is_text(self, parser: str) -> None:
        text = (
            '{"type":"response_audio","data":{"turn_id":"t","text":"hi","is_final":true},'
            '"type":"response_text"}'
        )
        assert receive(text) == vatel.ResponseText("t", "hi", True)


class TestBigIntegers:
    @pytest.mark.parametrize(
        "head", ['{"type":"response_audio","type":"agent_mood",', '{"type":"agent_mood",']
    )
    def test_unknown_event_data_keeps_big_integers_exact(self, parser: str, head: str) -> None:
        event = receive(head + '"data":{"n":' + str(BIG) + ',"m":-' + str(BIG) + "}}")
        assert isinstance(event, vatel.UnknownEvent)
        assert event.data == {"n": BIG, "m": -BIG}
        assert all(type(v) is int for v in event.data.values())

    def test_an_audio_chunk_with_a_big_integer_member_is_delivered(self, parser: str) -> None:
        text = '{"type":"response_audio",' + AUDIO_DATA[:-1] + ',"sent":' + str(BIG) + "}}"
        event = receive(text)
        assert isinstance(event, vatel.ResponseAudio) and event.audio == AUDIO_B64

    def test_a_big_integer_where_a_boolean_belongs_is_named_as_an_int(self, parser: str) -> None:
        text = '{"type":"response_audio",' + AUDIO_DATA.replace("false", str(BIG)) + "}"
        with pytest.raises(vatel.ProtocolError, match="must be bool, got int"):
            receive(text)


class TestLoneSurrogates:
    def test_every_string_of_every_event_is_printable(self, parser: str) -> None:
        bad = "a\\ud800b\\udfff"
        texts = [
            '{"type":"response_text","data":{"turn_id":"' + bad + '","text":"' + bad + '",'
            '"is_final":true}}',
            '{"type":"input_audio_transcript","data":{"transcript":"' + bad + '","is_final":true,'
            '"turn_id":"' + bad + '"}}',
            '{"type":"session_started","data":{"id":"' + bad + '"}}',
            '{"type":"tool_call","data":{"toolCallId":"' + bad + '","toolName":"' + bad + '",'
            '"arguments":[{"name":"' + bad + '","value":{"' + bad + '":["' + bad + '"]},'
            '"description":"' + bad + '"}]}}',
            '{"type":"agent_' + bad + '","data":{"' + bad + '":[["' + bad + '"]]}}',
            '{"type":"response_audio","data":{"turn_id":"' + bad + '","audio":"AAAAAAAA",'
            '"is_final":true}}',
        ]
        for text in texts:
            event = receive(text)
            shown = repr(event) + str(event)
            shown.encode("utf-8")  # would raise on a lone surrogate
            dumped = json.dumps(_strings(event), ensure_ascii=False)
            dumped.encode("utf-8")
            assert "a\ufffdb\ufffd" in dumped, text

    def test_a_lone_surrogate_in_text_is_replaced_exactly(self, parser: str) -> None:
        event = receive(
            '{"type":"response_text","data":{"turn_id":"t","text":"x\\uD83Dy","is_final":true}}'
        )
        assert event == vatel.ResponseText("t", "x\ufffdy", True)

    def test_a_pair_and_an_escaped_backslash_are_left_alone(self, parser: str) -> None:
        event = receive(
            '{"type":"response_text","data":{"turn_id":"t","text":"\\ud83d\\ude00 C:\\\\ud800",'
            '"is_final":true}}'
        )
        assert isinstance(event, vatel.ResponseText)
        assert event.text == "\U0001f600 C:\\ud800"

    def test_a_raw_surrogate_in_a_frame_given_directly_is_replaced(self, parser: str) -> None:
        event = receive(
            '{"type":"response_text","data":{"turn_id":"t","text":"é\ud800","is_final":true}}'
        )
        assert event == vatel.ResponseText("t", "é\ufffd", True)


class TestDeepNesting:
    @pytest.mark.parametrize("depth", [5, 200, 900, 1000, 1030, 5000])
    def test_nesting_beside_an_audio_chunk_reads_the_same_with_either_parser(
        self, depth: int
    ) -> None:
        text = '{"type":"response_audio",' + AUDIO_DATA[:-1] + ',"x":' + "[" * depth
        text += "]" * depth + "}}"
        outcomes = []
        for loads in (None, orjson.loads if orjson is not None else None):
            saved = _protocol._fast_loads
            _protocol._fast_loads = loads
            try:
                outcomes.append(type(receive(text)).__name__)
            except vatel.ProtocolError as error:
                outcomes.append(str(error))
            finally:
                _protocol._fast_loads = saved
        assert outcomes[0] == outcomes[1]
        if depth <= 200:
            assert outcomes[0] == "ResponseAudio"


class TestForwardCompatibility:
    def test_an_unknown_type_keeps_its_data_whole(self, parser: str) -> None:
        event = receive('{"type":"agent_mood","data":{"level":3,"tags":["calm"]},"v":2}')
        assert event == vatel.UnknownEvent("agent_mood", {"level": 3, "tags": ["calm"]})

    def test_new_members_in_known_types_are_ignored(self, parser: str) -> None:
        text = (
            '{"type":"response_audio","data":{"turn_id":"t1","audio":"' + AUDIO_B64 + '",'
            '"is_final":false,"codec":{"name":"pcm16","rate":24000}},"seq":7}'
        )
        event = receive(text)
        assert event == vatel.ResponseAudio("t1", AUDIO_B64, False)
        event = receive('{"type":"speech_started","data":{"emulated":false,"energy":0.3}}')
        assert event == vatel.SpeechStarted(False)


def _strings(event: vatel.Event) -> object:
    """Every field of ``event`` as plain data, arguments included."""
    if isinstance(event, vatel.ToolCall):
        return [
            event.tool_call_id,
            event.tool_name,
            [[a.name, a.value, a.description] for a in event.arguments],
        ]
    if isinstance(event, vatel.UnknownEvent):
        return [event.type, event.data]
    return [getattr(event, name) for name in event.__dataclass_fields__]
