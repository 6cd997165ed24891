"""The sans-I/O session protocol: frames in, events out; commands in, frames out."""

from __future__ import annotations

import base64
import json

import pytest

import vatel
from vatel._protocol import (
    SessionProtocol,
    decode_event,
    encode_input_audio,
    encode_input_audio_bytes,
    encode_tool_call_output,
)


def frame(type_: str, data: object) -> str:
    return json.dumps({"type": type_, "data": data})


PCM = bytes(range(256)) * 4  # 1,024 bytes, every byte value
B64 = base64.b64encode(PCM).decode()


class TestDecode:
    def test_every_server_message_type_becomes_its_event(self) -> None:
        cases = [
            (frame("session_started", {"id": "call-1"}), vatel.SessionStarted("call-1")),
            (
                frame("response_text", {"turn_id": "t1", "text": "Hi", "is_final": True}),
                vatel.ResponseText("t1", "Hi", True),
            ),
            (
                frame("input_audio_transcript", {"transcript": "hello", "is_final": False}),
                vatel.InputAudioTranscript("hello", False, None),
            ),
            (frame("speech_started", {"emulated": True}), vatel.SpeechStarted(True)),
            (frame("speech_stopped", {}), vatel.SpeechStopped()),
            (frame("interruption", {}), vatel.Interruption()),
            (frame("session_ended", {}), vatel.SessionEnded()),
        ]
        for text, expected in cases:
            event = decode_event(text)
            assert event == expected
            assert event.type == json.loads(text)["type"]

    def test_response_audio_keeps_base64_and_decodes_pcm_on_access(self) -> None:
        event = decode_event(
            frame("response_audio", {"turn_id": "t", "audio": B64, "is_final": False})
        )
        assert isinstance(event, vatel.ResponseAudio)
        assert event.audio == B64
        assert event.pcm == PCM
        assert event.is_final is False
        assert "base64 chars" in repr(event) and B64 not in repr(event)

    def test_tool_call_arguments_as_list_and_mapping(self) -> None:
        data = {
            "toolCallId": "tc-1",
            "toolName": "get_weather",
            "arguments": [
                {"name": "city", "dataType": "string", "value": "Paris", "required": True},
                {"name": "days", "dataType": "number", "value": 3, "type": "static"},
            ],
        }
        event = decode_event(frame("tool_call", data))
        assert isinstance(event, vatel.ToolCall)
        assert event.tool_call_id == "tc-1" and event.tool_name == "get_weather"
        assert [a.name for a in event.arguments] == ["city", "days"]
        assert event.arguments[0].data_type == "string" and event.arguments[0].required is True
        assert event.kwargs == {"city": "Paris", "days": 3}

    def test_unknown_type_is_kept_whole(self) -> None:
        event = decode_event(frame("agent_thinking", {"level": 3, "nested": {"a": [1]}}))
        assert isinstance(event, vatel.UnknownEvent)
        assert event.type == "agent_thinking"
        assert event.data == {"level": 3, "nested": {"a": [1]}}

    def test_extra_fields_in_known_messages_are_tolerated(self) -> None:
        event = decode_event(frame("speech_stopped", {"new_field": 1}))
        assert event == vatel.SpeechStopped()
        event = decode_event(
            frame("response_text", {"turn_id": "t", "text": "x", "is_final": True, "lang": "en"})
        )
        assert event == vatel.ResponseText("t", "x", True)

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[1, 2]",
            '"a string"',
            '{"data": {}}',
            '{"type": 5, "data": {}}',
            frame("response_audio", {"turn_id": "t", "is_final": True}),
            frame("response_audio", {"turn_id": "t", "audio": 12, "is_final": True}),
            frame("response_audio", {"turn_id": "t", "audio": "AAAA", "is_final": 1}),
            frame("response_text", "not an object"),
            frame("session_started", {}),
            frame("tool_call", {"toolCallId": "x", "toolName": "y", "arguments": ["bad"]}),
            frame("tool_call", {"toolCallId": "x", "toolName": "y"}),
            frame("speech_started", {"emulated": "yes"}),
        ],
    )
    def test_malformed_frames_raise_protocol_error_with_the_frame(self, text: str) -> None:
        with pytest.raises(vatel.ProtocolError) as info:
            decode_event(text)
        assert info.value.frame == text[:1000]
        assert isinstance(info.value, vatel.APIError)

    def test_binary_frame_is_a_protocol_error(self) -> None:
        with pytest.raises(vatel.ProtocolError, match="binary"):
            decode_event(b'{"type": "session_ended", "data": {}}')

    def test_base64_of_the_right_length_with_a_bad_character_fails_on_access(self) -> None:
        # Eight characters without padding: six bytes, so only decoding can tell.
        text = frame("response_audio", {"turn_id": "t", "audio": "AAAAAA!A", "is_final": True})
        event = decode_event(text)
        assert isinstance(event, vatel.ResponseAudio) and event.audio == "AAAAAA!A"
        with pytest.raises(vatel.ProtocolError, match="not valid base64") as info:
            _ = event.pcm
        assert not isinstance(info.value, vatel.AudioFormatError)
        assert json.loads(info.value.frame)["data"]["audio"] == "AAAAAA!A"

    @pytest.mark.parametrize(
        ("audio", "why"),
        [
            ("AA==", "odd number of bytes"),  # 1 byte
            ("AAAA", "odd number of bytes"),  # 3 bytes
            (base64.b64encode(b"\x00" * 961).decode(), "odd number of bytes"),
            ("AAAAAA", "not valid base64"),  # unpadded
            ("é", "not valid base64"),
        ],
    )
    def test_server_audio_that_is_not_whole_samples_is_the_servers_protocol_error(
        self, audio: str, why: str
    ) -> None:
        text = frame("response_audio", {"turn_id": "t", "audio": audio, "is_final": False})
        event = SessionProtocol().receive(text)
        assert isinstance(event, vatel.ResponseAudio) and event.audio == audio
        with pytest.raises(vatel.ProtocolError, match=why) as info:
            _ = event.pcm
        assert not isinstance(info.value, vatel.AudioFormatError), "the server's fault"
        kept = info.value.frame  # the chunk as a frame, cut at 1,000 characters
        assert kept.startswith('{"type": "response_audio"') and audio[:900] in kept

    @pytest.mark.parametrize("size", [0, 2, 4, 6, 8, 958, 960, 962, 964, 4096])
    def test_every_even_byte_count_of_audio_is_accepted(self, size: int) -> None:
        pcm = bytes(range(256)) * 17
        audio = base64.b64encode(pcm[:size]).decode()
        event = SessionProtocol().receive(
            frame("response_audio", {"turn_id": "t", "audio": audio, "is_final": True})
        )
        assert isinstance(event, vatel.ResponseAudio) and event.pcm == pcm[:size]

    def test_a_chunk_built_by_hand_with_odd_audio_fails_on_access(self) -> None:
        event = vatel.ResponseAudio("t", "AA==", True)
        with pytest.raises(vatel.ProtocolError, match="odd number of bytes"):
            _ = event.pcm


class TestEncode:
    def test_input_audio_bytes_frame_matches_the_contract(self) -> None:
        message = json.loads(encode_input_audio_bytes(PCM))
        assert message == {"type": "input_audio", "data": {"audio": B64}}

    def test_input_audio_base64_is_checked_and_sent_as_is(self) -> None:
        assert json.loads(encode_input_audio(B64))["data"]["audio"] == B64

    @pytest.mark.parametrize("pcm", [b"\x00", b"\x00" * 961, b""])
    def test_odd_or_empty_pcm_is_rejected(self, pcm: bytes) -> None:
        with pytest.raises(vatel.AudioFormatError):
            encode_input_audio_bytes(pcm)

    @pytest.mark.parametrize("audio", ["not base64!", 'AAAA"}}', base64.b64encode(b"abc").decode()])
    def test_bad_base64_audio_is_rejected_before_sending(self, audio: str) -> None:
        with pytest.raises(vatel.AudioFormatError) as info:
            encode_input_audio(audio)
        assert isinstance(info.value, ValueError)

    def test_tool_output_str_is_sent_as_is_and_objects_as_json(self) -> None:
        as_str = json.loads(encode_tool_call_output("tc", "sunny, 21 °C"))
        assert as_str == {
            "type": "tool_call_output",
            "data": {"toolCallId": "tc", "output": "sunny, 21 °C"},
        }
        as_obj = json.loads(encode_tool_call_output("tc", {"temp": 21, "sky": ["sun"]}))
        assert json.loads(as_obj["data"]["output"]) == {"temp": 21, "sky": ["sun"]}
        assert json.loads(json.loads(encode_tool_call_output("tc", 3))["data"]["output"]) == 3

    def test_tool_output_that_is_not_json_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            encode_tool_call_output("tc", object())
