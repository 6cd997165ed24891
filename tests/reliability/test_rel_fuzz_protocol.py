"""Property-based tests of the voice-session codec: whatever the server sends, the SDK
answers with a typed event, an ``UnknownEvent`` or a ``vatel`` error, and whatever the
caller passes, the encoders produce a contract-valid frame or a documented error.

The number of examples scales with ``VATEL_FUZZ_PROFILE`` (see ``rel_support``)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rel_support import (
    FUZZ_TIMEOUT,
    contract_schema,
    contract_values,
    count,
    fuzz,
    json_scalars,
    json_values,
    nested_text,
    validator,
)

import vatel
from vatel import _protocol
from vatel._protocol import (
    SessionProtocol,
    SessionState,
    decode_event,
    encode_input_audio,
    encode_input_audio_bytes,
    encode_tool_call_output,
)

pytestmark = pytest.mark.timeout(FUZZ_TIMEOUT)

EVENT_CLASSES = (
    vatel.SessionStarted,
    vatel.ResponseAudio,
    vatel.ResponseText,
    vatel.InputAudioTranscript,
    vatel.SpeechStarted,
    vatel.SpeechStopped,
    vatel.Interruption,
    vatel.ToolCall,
    vatel.SessionEnded,
    vatel.UnknownEvent,
)

PARSERS: dict[str, Callable[[str | bytes], Any]] = {
    "orjson": orjson.loads,
    "stdlib-json": json.loads,
}
"""The decoder uses orjson when the speedups extra is installed, the standard library
otherwise: both must behave the same."""


@contextlib.contextmanager
def parser(name: str) -> Iterator[None]:
    saved = _protocol._loads
    _protocol._loads = PARSERS[name]
    try:
        yield
    finally:
        _protocol._loads = saved


# -- what the server might send ---------------------------------------------------------

huge_text = st.builds(
    lambda char, size: char * size,
    # Lone surrogates cannot travel in a text frame; TestEncoderGaps covers them.
    st.characters(exclude_categories=["Cs"]),
    st.sampled_from([0, 1, 1000, 65_535, 65_536, 300_000, 1 << 20]),
)
texts = st.text(max_size=30) | huge_text


@st.composite
def base64_audio(draw: st.DrawFn) -> str:
    """Valid base64 PCM most of the time, and every way of getting it wrong."""
    pcm = draw(st.binary(max_size=2000))
    good = base64.b64encode(pcm).decode()
    how = draw(st.sampled_from(["good", "unpadded", "urlsafe", "junk", "spaces", "unicode", "any"]))
    if how == "unpadded":
        return good.rstrip("=")
    if how == "urlsafe":
        return base64.urlsafe_b64encode(pcm).decode()
    if how == "junk":
        at = draw(st.integers(0, len(good)))
        junk = draw(st.sampled_from(["!", "%", "=", "==", '"', "\\", "\x00"]))
        return good[:at] + junk + good[at:]
    if how == "spaces":
        return " ".join(good[i : i + 76] for i in range(0, len(good), 76)) + "\n"
    if how == "unicode":
        return good + draw(st.text(min_size=1, max_size=3).filter(lambda t: not t.isascii()))
    if how == "any":
        return draw(st.text(max_size=50))
    return good


VALID_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "session_started": {"id": texts},
    "response_audio": {"turn_id": texts, "audio": base64_audio(), "is_final": st.booleans()},
    "response_text": {"turn_id": texts, "text": texts, "is_final": st.booleans()},
    "input_audio_transcript": {
        "transcript": texts,
        "is_final": st.booleans(),
        "turn_id": texts,
    },
    "speech_started": {"emulated": st.booleans()},
    "speech_stopped": {},
    "interruption": {},
    "session_ended": {},
    "tool_call": {
        "toolCallId": texts,
        "toolName": texts,
        "arguments": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=10)},
                optional={
                    "value": json_values,
                    "type": st.text(max_size=8),
                    "dataType": st.sampled_from(["string", "number", "boolean", "object"])
                    | st.text(max_size=8),
                    "description": st.text(max_size=20),
                    "required": st.booleans(),
                },
            )
            | json_values,
            max_size=4,
        ),
    },
}
KNOWN_TYPES = sorted(VALID_FIELDS)


@st.composite
def near_valid_data(draw: st.DrawFn, type_: str) -> Any:
    """``data`` for ``type_`` with each field right, of a wrong type, null or missing,
    and sometimes extra fields."""
    data: dict[str, Any] = {}
    for name, valid in VALID_FIELDS[type_].items():
        how = draw(st.sampled_from(["valid", "valid", "valid", "wrong", "null", "missing"]))
        if how == "valid":
            data[name] = draw(valid)
        elif how == "wrong":
            data[name] = draw(json_values)
        elif how == "null":
            data[name] = None
    if draw(st.booleans()):
        data.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return data


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """A server message: mostly the right envelope, with everything that can be off."""
    type_ = draw(st.sampled_from(KNOWN_TYPES) | st.text(max_size=12) | json_scalars)
    if isinstance(type_, str) and type_ in VALID_FIELDS and draw(st.integers(0, 4)):
        data = draw(near_valid_data(type_))
    else:
        data = draw(json_values)
    message: dict[str, Any] = {"type": type_, "data": data}
    shape = draw(st.sampled_from(["ok", "ok", "ok", "no-data", "no-type", "extra", "wrapped"]))
    if shape == "no-data":
        del message["data"]
    elif shape == "no-type":
        del message["type"]
    elif shape == "extra":
        message.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    elif shape == "wrapped":
        return [message]
    return message


def to_frame(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


@st.composite
def broken_text(draw: st.DrawFn) -> str:
    """A good frame, cut short or with a character changed."""
    frame = to_frame(draw(messages()))
    at = draw(st.integers(0, len(frame)))
    if draw(st.booleans()):
        return frame[:at]
    return frame[:at] + draw(st.characters()) + frame[at + 1 :]


def unknown_frame(data: str) -> str:
    """An unknown-type frame around ``data`` (JSON text)."""
    return '{"type":"agent_mood","data":' + data + "}"


def tool_call_frame(value: str) -> str:
    """A tool_call frame whose one argument's value is ``value`` (JSON text)."""
    return (
        '{"type":"tool_call","data":{"toolCallId":"c","toolName":"n",'
        '"arguments":[{"name":"a","value":' + value + "}]}}"
    )


@st.composite
def deep_frames(draw: st.DrawFn) -> str:
    """Nesting deep enough to trouble a recursive parser or printer, in the places a
    decoder looks at (the generic fuzzing keeps nesting shallow)."""
    depth = draw(st.integers(0, 200) | st.just(500))
    inner = nested_text(depth, draw(st.sampled_from(["list", "object"])))
    where = draw(st.sampled_from(["data", "value", "audio", "whole"]))
    if where == "whole":
        return inner
    if where == "audio":
        return '{"type":"response_audio","data":{"turn_id":"t","audio":' + inner + "}}"
    if where == "value":
        return tool_call_frame(inner)
    return unknown_frame(inner)


text_frames = (
    st.builds(to_frame, messages())
    | st.builds(to_frame, json_values)
    | broken_text()
    | st.text(max_size=200)
    | deep_frames()
)
binary_frames = (
    st.binary(max_size=200)
    | st.builds(to_frame, messages()).map(str.encode)
    | st.sampled_from([b"\xff\xfe", b"\xc3\x28", b'{"type":"\xed\xa0\x80"}', b"\x00" * 100])
)
any_frames = text_frames | binary_frames


# -- what every returned event and raised error must allow -------------------------------


def exercise_error(error: BaseException) -> None:
    """A decoding failure is a ``vatel`` error that can be printed and keeps the frame."""
    assert isinstance(error, vatel.APIError), f"{type(error).__name__}: {error}"
    assert isinstance(error, vatel.ProtocolError)
    str(error), repr(error)
    assert error.frame is not None and len(error.frame) <= 1000


def exercise_event(event: object) -> None:
    """Touch every attribute and property a user could: only a ``vatel`` error may come out."""
    assert isinstance(event, EVENT_CLASSES), type(event)
    assert isinstance(event.type, str)
    checks: list[Callable[[], object]] = [lambda: repr(event), lambda: str(event)]
    checks += [
        (lambda name=f.name: getattr(event, name))
        for f in dataclasses.fields(event)  # type: ignore[arg-type]
    ]
    if isinstance(event, vatel.ResponseAudio):
        checks.append(lambda: event.pcm)
    if isinstance(event, vatel.ToolCall):
        checks.append(lambda: event.kwargs)
        for argument in event.arguments:
            checks += [lambda a=argument: repr(a), lambda a=argument: str(a)]
            checks += [
                (lambda a=argument, name=f.name: getattr(a, name))
                for f in dataclasses.fields(argument)
            ]
    for check in checks:
        try:
            check()
        except vatel.APIError as error:
            exercise_error(error)


def decoded(frame: str | bytes) -> object:
    """The event for ``frame`` or the error raised, checked to agree between the general
    decoder and a session's receive path (which takes a shortcut for audio)."""
    outcomes: list[object] = []
    for decode in (decode_event, SessionProtocol().receive):
        try:
            outcomes.append(decode(frame))
        except Exception as error:  # Examined by exercise_error: only vatel errors pass.
            exercise_error(error)
            outcomes.append(error)
    first, second = outcomes
    assert type(first) is type(second), (first, second)
    if isinstance(first, vatel.UnknownEvent):
        assert isinstance(second, vatel.UnknownEvent) and first.type == second.type
    elif not isinstance(first, BaseException):
        assert first == second
    return first


# -- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("loads", sorted(PARSERS))
@fuzz(300)
@given(frame=any_frames)
@example(frame='{"type":"response_audio","data":{"turn_id":"t","audio":"a","is_final":true}}')
@example(frame='{"type":"tool_call","data":{"toolCallId":"c","toolName":"n","arguments":[1]}}')
@example(frame='{"type":"session_started","data":{"id":1e400}}')
@example(frame='{"type":"x","data":' + "1" * 5000 + "}")
@example(frame=b"\x81\x05hello")
def test_any_frame_gives_an_event_or_a_protocol_error(loads: str, frame: str | bytes) -> None:
    count(f"decode: any frame ({loads})")
    with parser(loads):
        outcome = decoded(frame)
    if isinstance(outcome, BaseException):
        return
    exercise_event(outcome)


@fuzz(300)
@given(message=messages())
@example(
    message={"type": "tool_call", "data": {"toolCallId": "", "toolName": "", "arguments": [{}]}}
)
def test_near_valid_messages_decode_to_the_values_sent(message: Any) -> None:
    """Whatever decodes as a known type carries exactly the fields of the frame."""
    count("decode: near-valid messages, values kept")
    outcome = decoded(to_frame(message))
    if isinstance(outcome, BaseException):
        return
    exercise_event(outcome)
    if isinstance(outcome, vatel.UnknownEvent):
        assert isinstance(message, dict) and outcome.type == message["type"]
        assert outcome.type not in VALID_FIELDS
        assert outcome.data == message.get("data")
        return
    assert isinstance(message, dict) and message["type"] == outcome.type
    data = message.get("data") or {}
    if isinstance(outcome, vatel.ToolCall):
        assert outcome.tool_call_id == data["toolCallId"]
        assert outcome.tool_name == data["toolName"]
        assert [a.name for a in outcome.arguments] == [a.get("name") for a in data["arguments"]]
        named = [a for a in data["arguments"] if "name" in a]
        assert outcome.kwargs == {a["name"]: a.get("value") for a in named}
        return
    for f in dataclasses.fields(outcome):  # type: ignore[arg-type]
        assert getattr(outcome, f.name) == data.get(f.name), f.name


@fuzz(200)
@given(data=st.data())
def test_every_message_the_contract_allows_becomes_its_typed_event(data: st.DataObject) -> None:
    if contract_schema("VoiceSessionServerMessage") is None:
        pytest.skip("the API contract is not available next to the checkout")
    message = data.draw(contract_values("VoiceSessionServerMessage"))
    validator("VoiceSessionServerMessage").validate(message)
    count("decode: contract-valid messages")
    event = decoded(to_frame(message))
    assert not isinstance(event, BaseException), f"a valid message was refused: {event}"
    assert event.type == message["type"] and not isinstance(event, vatel.UnknownEvent)  # type: ignore[attr-defined]
    exercise_event(event)
    if isinstance(event, vatel.ResponseAudio):
        # The contract only says "string"; when it is strict base64, pcm is its bytes.
        with contextlib.suppress(binascii.Error, ValueError):
            pcm = base64.b64decode(message["data"]["audio"], validate=True)
            assert event.pcm == pcm


class TestContractGaps:
    def test_a_tool_call_with_an_unnamed_argument_is_delivered(self) -> None:
        message = {
            "type": "tool_call",
            "data": {"toolCallId": "c1", "toolName": "lookup", "arguments": [{"value": 3}]},
        }
        check = validator("VoiceSessionServerMessage")
        if check is not None:
            check.validate(message)
        event = decode_event(json.dumps(message))
        assert isinstance(event, vatel.ToolCall) and event.tool_call_id == "c1"
        assert event.arguments[0].value == 3 and event.kwargs == {}

    def test_big_integers_in_tool_arguments_are_kept_exact(self) -> None:
        # orjson (speedups) would turn them into floats; it only parses audio frames.
        big = 2**64 + 1
        frame = json.dumps(
            {
                "type": "tool_call",
                "data": {
                    "toolCallId": "c1",
                    "toolName": "lookup",
                    "arguments": [{"name": "account", "dataType": "number", "value": big}],
                },
            }
        )
        event = SessionProtocol().receive(frame)
        assert isinstance(event, vatel.ToolCall) and event.kwargs == {"account": big}


@fuzz(100)
@given(frames=st.lists(st.builds(to_frame, messages()) | binary_frames, max_size=25))
def test_session_state_follows_only_the_frames_that_decode(frames: list[str | bytes]) -> None:
    """A malformed frame never moves the session; session_started and session_ended do,
    and once ended the session stays ended."""
    count("SessionProtocol: frame sequences")
    session = SessionProtocol()
    state, session_id, pending = SessionState.OPEN, None, {}
    for frame in frames:
        try:
            event = session.receive(frame)
        except vatel.ProtocolError:
            pass
        else:
            if isinstance(event, vatel.SessionStarted):
                session_id = event.id
                state = SessionState.STARTED if state is SessionState.OPEN else state
            elif isinstance(event, vatel.SessionEnded):
                state = SessionState.ENDED
            elif isinstance(event, vatel.ToolCall):
                pending[event.tool_call_id] = event
        assert (session.state, session.session_id) == (state, session_id)
        assert session.pending_tool_calls == pending
    for call_id in list(pending):
        session.tool_call_output(call_id, "done")
    assert session.pending_tool_calls == {}


class TestDeepNesting:
    """JSON nested deeper than Python's recursion limit. (The generic fuzzing above
    stays at 500 levels or less.)"""

    @pytest.mark.parametrize("depth", [1025, 5000, 100_000])
    def test_orjson_refuses_nesting_beyond_its_limit(self, depth: int) -> None:
        with parser("orjson"), pytest.raises(vatel.ProtocolError):
            decode_event(unknown_frame(nested_text(depth)))

    def test_stdlib_parser_refuses_deep_nesting_with_a_protocol_error(self) -> None:
        with parser("stdlib-json"), pytest.raises(vatel.ProtocolError):
            decode_event(unknown_frame(nested_text(100_000)))

    @pytest.mark.parametrize("loads", sorted(PARSERS))
    @pytest.mark.parametrize("where", ["unknown", "tool-argument"])
    def test_nesting_just_within_the_parser_limit_is_refused_or_printable(
        self, loads: str, where: str
    ) -> None:
        frame = unknown_frame(nested_text(1010))
        if where == "tool-argument":
            frame = tool_call_frame(nested_text(1000))
        try:
            with parser(loads):
                event = decode_event(frame)
        except vatel.ProtocolError:
            return
        repr(event)


# -- encoding --------------------------------------------------------------------------------


def _strict_json(frame: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(frame, parse_constant=no_constants)


def check_client_frame(frame: object, schema: str) -> dict[str, Any]:
    """A client frame: a str that is strict JSON, sendable as UTF-8 text, and valid
    for the contract's client message ``schema``."""
    assert isinstance(frame, str)
    frame.encode("utf-8")  # a WebSocket text frame is UTF-8
    message = _strict_json(frame)
    assert isinstance(message, dict) and set(message) == {"type", "data"}
    check = validator(schema)
    if check is not None:
        check.validate(message)
    return message


bytes_like = (
    st.binary(max_size=4000)
    | st.binary(max_size=4000).map(bytearray)
    | st.binary(max_size=4000).map(memoryview)
)
not_bytes = st.text(max_size=10) | st.integers() | st.none() | st.lists(st.integers(0, 255))


@fuzz(300)
@given(pcm=bytes_like | not_bytes)
def test_encode_input_audio_bytes(pcm: Any) -> None:
    count("encode_input_audio_bytes")
    acceptable = isinstance(pcm, (bytes, bytearray, memoryview)) and len(pcm) > 0
    acceptable = acceptable and len(pcm) % 2 == 0
    try:
        frame = encode_input_audio_bytes(pcm)
    except vatel.AudioFormatError:
        assert not acceptable
        return
    assert acceptable
    message = check_client_frame(frame, "VoiceSessionClientInputAudioMessage")
    assert message["type"] == "input_audio"
    assert base64.b64decode(message["data"]["audio"], validate=True) == bytes(pcm)


@fuzz(300)
@given(audio=base64_audio() | texts | not_bytes | st.binary(max_size=20))
@example(audio="")
@example(audio="AA==\n")
def test_encode_input_audio(audio: Any) -> None:
    count("encode_input_audio")
    try:
        pcm = base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
    except (binascii.Error, ValueError):
        pcm = None
    acceptable = pcm is not None and len(pcm) > 0 and len(pcm) % 2 == 0
    try:
        frame = encode_input_audio(audio)
    except vatel.AudioFormatError:
        assert not acceptable
        return
    assert acceptable
    message = check_client_frame(frame, "VoiceSessionClientInputAudioMessage")
    assert message == {"type": "input_audio", "data": {"audio": audio}}


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


tool_outputs = (
    json_values
    | texts
    | st.sampled_from([float("nan"), float("inf"), -0.0])
    | st.builds(_Opaque)
    | st.builds(_circular)
    | st.sets(st.integers(), max_size=3)
    | st.binary(max_size=5)
    | st.dictionaries(st.tuples(st.integers()), st.integers(), min_size=1, max_size=2)
)


@fuzz(300)
@given(tool_call_id=texts | json_scalars, output=tool_outputs)
def test_encode_tool_call_output(tool_call_id: Any, output: Any) -> None:
    count("encode_tool_call_output")
    good_id = isinstance(tool_call_id, str) and tool_call_id != ""
    try:
        frame = encode_tool_call_output(tool_call_id, output)
    except ValueError:
        assert not good_id
        return
    except TypeError:
        assert good_id and not isinstance(output, str)
        return
    assert good_id
    message = check_client_frame(frame, "VoiceSessionClientToolCallOutputMessage")
    assert message["type"] == "tool_call_output"
    assert message["data"]["toolCallId"] == tool_call_id
    sent = message["data"]["output"]
    if isinstance(output, str):
        assert sent == output
    elif output == output:  # NaN is not equal to itself; the rest must round-trip
        assert json.loads(sent) == output


class TestEncoderGaps:
    @pytest.mark.parametrize("where", ["output", "tool_call_id"])
    def test_a_lone_surrogate_is_refused_or_escaped(self, where: str) -> None:
        call_id, output = ("call-1", "bad \ud800 text")
        if where == "tool_call_id":
            call_id, output = "call-\udfff", "fine"
        try:
            frame = encode_tool_call_output(call_id, output)
        except ValueError:
            return
        frame.encode("utf-8")

    def test_a_too_deep_output_is_a_documented_error(self) -> None:
        from rel_support import nested

        with pytest.raises((TypeError, ValueError)):
            encode_tool_call_output("call-1", nested(100_000))
