"""Property-based tests of the voice-session codec: whatever the server sends, the SDK
answers with a typed event, an ``UnknownEvent`` or a ``vatel`` error, and whatever the
caller passes, the encoders produce a contract-valid frame or a documented error.

The number of examples scales with ``VATEL_FUZZ_PROFILE`` (see ``rel_support``)."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import dataclasses
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

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

try:
    import orjson
except ImportError:  # pragma: no cover - the speedups extra is optional
    orjson = None  # type: ignore[assignment]

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

PARSERS: dict[str, Callable[[str], Any] | None] = {
    "orjson": orjson.loads if orjson is not None else None,
    "stdlib-json": None,
}
"""What reads audio frames: orjson when the speedups extra is installed, the
standard library otherwise (which always reads every other frame). Both must
give the same events and errors."""


@contextlib.contextmanager
def parser(name: str) -> Iterator[None]:
    if name == "orjson" and orjson is None:
        pytest.skip("orjson (the speedups extra) is not installed: one parser only")
    saved = _protocol._fast_loads
    _protocol._fast_loads = PARSERS[name]
    try:
        yield
    finally:
        _protocol._fast_loads = saved


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
    and sometimes extra fields. Half the time every field is right: otherwise a
    type with three fields would almost never decode, and what the checks of a
    decoded event say would go untried."""
    data: dict[str, Any] = {}
    all_right = draw(st.booleans())
    for name, valid in VALID_FIELDS[type_].items():
        how = "valid"
        if not all_right:
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
    # Two in three of a known type: as one branch of a union beside the six of
    # text and JSON scalars, known types came up once in seven draws, and a fully
    # decoded event with fields almost never.
    if draw(st.integers(0, 2)):
        type_: Any = draw(st.sampled_from(KNOWN_TYPES))
    else:
        type_ = draw(st.text(max_size=12) | json_scalars)
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


class Reached(collections.Counter[str]):
    """Which branches of a fuzz test's checks its examples went down: an early
    ``return`` on a common path must not leave a check that never runs."""

    def require(self, *branches: str) -> None:
        missing = [branch for branch in branches if not self[branch]]
        assert not missing, f"no example reached {missing}; reached {dict(self)}"


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


def outcome(frame: str | bytes) -> object:
    """The event a fresh session makes of ``frame``, or the error it raises."""
    try:
        return SessionProtocol().receive(frame)
    except Exception as error:  # Examined by exercise_error: only vatel errors pass.
        exercise_error(error)
        return error


def same(first: object, second: object) -> bool:
    """Equal events (NaN included), or errors of one class, message and frame."""
    if isinstance(first, BaseException) or isinstance(second, BaseException):
        return (
            type(first) is type(second)
            and str(first) == str(second)
            and getattr(first, "frame", None) == getattr(second, "frame", None)
        )
    return type(first) is type(second) and (
        first == second or pickle.dumps(first) == pickle.dumps(second)
    )


def decoded(frame: str | bytes) -> object:
    """The event for ``frame`` or the error raised, checked to be the same whichever
    parser reads audio frames, and the same through :func:`decode_event`."""
    outcomes = []
    for name in sorted(PARSERS):
        if PARSERS[name] is None and name == "orjson":
            continue
        with parser(name):
            outcomes.append(outcome(frame))
    first = outcomes[0]
    for other in outcomes[1:]:
        assert same(first, other), (first, other)
    try:
        direct: object = decode_event(frame)
    except Exception as error:
        direct = error
    assert same(first, direct), (first, direct)
    return first


# -- decoding -------------------------------------------------------------------------------


def test_any_frame_gives_an_event_or_a_protocol_error() -> None:
    """Either parser: decoded() checks that they agree."""
    reached = Reached()

    @fuzz(300)
    @given(frame=any_frames)
    @example(frame='{"type":"response_audio","data":{"turn_id":"t","audio":"a","is_final":true}}')
    @example(frame='{"type":"tool_call","data":{"toolCallId":"c","toolName":"n","arguments":[1]}}')
    @example(frame='{"type":"session_started","data":{"id":1e400}}')
    @example(frame='{"type":"x","data":' + "1" * 5000 + "}")
    @example(frame=b"\x81\x05hello")
    def check(frame: str | bytes) -> None:
        count("decode: any frame (both parsers)")
        result = decoded(frame)  # an error was examined there
        if isinstance(result, BaseException):
            reached["error"] += 1
            return
        reached["unknown" if isinstance(result, vatel.UnknownEvent) else "typed event"] += 1
        exercise_event(result)

    check()
    reached.require("error", "unknown", "typed event")


def test_near_valid_messages_decode_to_the_values_sent() -> None:
    """Whatever decodes as a known type carries exactly the fields of the frame."""
    reached = Reached()

    @fuzz(300)
    @given(message=messages())
    @example(
        message={
            "type": "tool_call",
            "data": {"toolCallId": "", "toolName": "", "arguments": [{}]},
        }
    )
    def check(message: Any) -> None:
        count("decode: near-valid messages, values kept")
        result = decoded(to_frame(message))
        if isinstance(result, BaseException):
            reached["error"] += 1
            return
        exercise_event(result)
        outcome: Any = result
        if isinstance(outcome, vatel.UnknownEvent):
            reached["unknown"] += 1
            assert isinstance(message, dict) and outcome.type == message["type"]
            assert outcome.type not in VALID_FIELDS
            assert outcome.data == message.get("data")
            return
        assert isinstance(message, dict) and message["type"] == outcome.type
        data = message.get("data", {})
        if isinstance(outcome, vatel.ToolCall):
            reached["tool call"] += 1
            assert outcome.tool_call_id == data["toolCallId"]
            assert outcome.tool_name == data["toolName"]
            names = [a.get("name") for a in data["arguments"]]
            assert [a.name for a in outcome.arguments] == names
            named = [a for a in data["arguments"] if "name" in a]
            assert outcome.kwargs == {a["name"]: a.get("value") for a in named}
            return
        fields = dataclasses.fields(outcome)
        reached["fields" if fields else "no fields"] += 1
        for f in fields:
            assert getattr(outcome, f.name) == data.get(f.name), f.name

    check()
    reached.require("error", "unknown", "tool call", "fields", "no fields")


@fuzz(200)
@given(data=st.data())
def test_every_message_the_contract_allows_becomes_its_typed_event(data: st.DataObject) -> None:
    if contract_schema("VoiceSessionServerMessage") is None:
        pytest.skip("the API contract is not available next to the checkout")
    message = data.draw(contract_values("VoiceSessionServerMessage"))
    if message["type"] == "response_audio" and data.draw(st.booleans()):
        # The contract says "base64-encoded PCM16"; random text rarely is.
        pcm = data.draw(st.binary(max_size=64).map(lambda b: b[: len(b) // 2 * 2]))
        message["data"]["audio"] = base64.b64encode(pcm).decode()
    validator("VoiceSessionServerMessage").validate(message)
    count("decode: contract-valid messages")
    event = decoded(to_frame(message))
    assert not isinstance(event, BaseException), f"a valid message was refused: {event}"
    assert event.type == message["type"] and not isinstance(event, vatel.UnknownEvent)  # type: ignore[attr-defined]
    exercise_event(event)
    if isinstance(event, vatel.ResponseAudio):
        # Strict base64 of whole 16-bit samples decodes; anything else is the
        # server's fault, told when decoding.
        try:
            pcm = base64.b64decode(message["data"]["audio"], validate=True)
        except (binascii.Error, ValueError):
            with pytest.raises(vatel.ProtocolError, match="not valid base64"):
                _ = event.pcm
        else:
            if len(pcm) % 2:
                with pytest.raises(vatel.ProtocolError, match="odd number of bytes"):
                    _ = event.pcm
            else:
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

    @pytest.mark.parametrize("loads", sorted(PARSERS))
    @pytest.mark.parametrize(
        "head",
        [
            '{"type":"tool_call",',
            # Read first by orjson, which would turn the integers into floats.
            '{"type":"response_audio","type":"tool_call",',
            '{"type": "response_audio", "type": "tool_call", ',
        ],
    )
    def test_big_integers_in_tool_arguments_are_kept_exact(self, loads: str, head: str) -> None:
        big = 2**64 + 1
        data = {
            "toolCallId": "c1",
            "toolName": "lookup",
            "arguments": [
                {"name": "account", "dataType": "number", "value": big},
                {"name": "debt", "value": [-(2**96)]},
            ],
        }
        frame = head + '"data":' + json.dumps(data) + "}"
        with parser(loads):
            event = SessionProtocol().receive(frame)
        assert isinstance(event, vatel.ToolCall)
        assert event.kwargs == {"account": big, "debt": [-(2**96)]}
        assert type(event.kwargs["account"]) is int and type(event.kwargs["debt"][0]) is int


# -- what two JSON parsers might read differently -------------------------------------

raw_strings = st.text(max_size=8).map(
    lambda t: json.dumps(t, ensure_ascii=False)
) | st.sampled_from(
    [
        '"\\ud800"',  # lone surrogates, as escapes
        '"a\\uDFFFb"',
        '"\\udc00\\ud800"',
        '"\\ud83d\\ude00"',  # a pair: one emoji
        '"C:\\\\ud800"',  # an escaped backslash, then text
        '"\\u00e9\\u0000"',
    ]
)
raw_numbers = st.integers(min_value=-(2**100), max_value=2**100).map(str) | st.sampled_from(
    [
        str(2**64),
        str(2**63),
        str(-(2**63) - 1),
        str(2**96),
        "1e400",
        "-1e400",
        "1.5",
        "-0",
        "1e-400",
        "NaN",
        "Infinity",
        "-Infinity",
        "01",
        "1.",
        "2E3",
    ]
)
raw_scalars = raw_strings | raw_numbers | st.sampled_from(["true", "false", "null"])
raw_keys = st.sampled_from(
    ['"type"', '"data"', '"turn_id"', '"audio"', '"is_final"', '"toolCallId"', '"x"', '"\\ud800"']
)


def raw_object(members: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{key}:{value}" for key, value in members) + "}"


raw_values = st.recursive(
    raw_scalars,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(raw_keys, inner), max_size=4).map(raw_object)
    ),
    max_leaves=12,
)
good_audio = st.binary(max_size=64).map(lambda b: json.dumps(base64.b64encode(b).decode()))
type_names = st.sampled_from([*KNOWN_TYPES, "agent_mood"]).map(json.dumps)


@st.composite
def raw_frames(draw: st.DrawFn) -> str:
    """JSON text, mostly starting the way orjson gets to read it (an audio type
    first), with repeated keys, big integers, odd numbers, lone surrogates and
    nesting in every member."""
    data = [
        ('"turn_id"', draw(raw_strings | raw_values)),
        ('"audio"', draw(good_audio | raw_values)),
        ('"is_final"', draw(st.sampled_from(["true", "false"]) | raw_values)),
    ]
    data += draw(st.lists(st.tuples(raw_keys, raw_values), max_size=3))
    data = draw(st.permutations(data))
    members = [('"data"', raw_object(data) if draw(st.integers(0, 5)) else draw(raw_values))]
    members += draw(
        st.lists(st.tuples(raw_keys | st.just('"type"'), type_names | raw_values), max_size=2)
    )
    start = draw(st.sampled_from(['{"type":"response_audio",', '{"type": "response_audio", ', "{"]))
    text = start + ",".join(f"{key}:{value}" for key, value in members) + "}"
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def test_orjson_and_the_stdlib_give_the_same_outcome() -> None:
    """The same event or the same error whichever parser reads audio frames; and
    every string of the event can be encoded as UTF-8."""
    if orjson is None:
        pytest.skip("orjson (the speedups extra) is not installed: one parser only")
    reached = Reached()

    @fuzz(200)
    @given(frame=raw_frames())
    @example(
        frame='{"type":"response_audio","type":"tool_call","data":{"toolCallId":"c",'
        '"toolName":"n","arguments":[{"value":' + str(2**96) + "}]}}"
    )
    @example(
        frame='{"type":"response_audio","data":{"turn_id":"\\ud800","audio":"","is_final":true}}'
    )
    @example(
        frame='{"type":"response_audio","data":{"turn_id":"t","audio":"","is_final":'
        + str(2**64)
        + "}}"
    )
    def check(frame: str) -> None:
        count("decode: orjson and stdlib agree")
        with parser("orjson"):
            fast = outcome(frame)
        with parser("stdlib-json"):
            slow = outcome(frame)
        assert same(fast, slow), (fast, slow)
        if isinstance(fast, BaseException):
            reached["error"] += 1
            return
        reached["audio" if isinstance(fast, vatel.ResponseAudio) else "other event"] += 1
        exercise_event(fast)
        json.dumps(event_strings(fast), ensure_ascii=False).encode("utf-8")

    check()
    reached.require("error", "audio", "other event")


def event_strings(event: Any) -> object:
    """Every value of ``event``, arguments included, as plain data."""
    if isinstance(event, vatel.ToolCall):
        return [
            event.tool_call_id,
            event.tool_name,
            [[a.name, a.value, a.type, a.data_type, a.description] for a in event.arguments],
        ]
    if isinstance(event, vatel.UnknownEvent):
        return [event.type, event.data]
    return [getattr(event, f.name) for f in dataclasses.fields(event)]


def test_session_state_follows_only_the_frames_that_decode() -> None:
    """A malformed frame never moves the session; session_started moves an open one
    and is refused after that; session_ended ends it for good; a tool call after the
    end is refused; and once ended, commands are refused locally."""
    reached = Reached()
    # Random messages rarely form a whole session: the frames that move its state
    # are mixed in as they are, so a start, an end and what follows them are tried.
    moves = st.sampled_from(
        [
            to_frame({"type": "session_started", "data": {"id": "s1"}}),
            to_frame({"type": "session_ended", "data": {}}),
            tool_call_frame('"x"'),
            to_frame(
                {
                    "type": "tool_call",
                    "data": {"toolCallId": "c2", "toolName": "m", "arguments": []},
                }
            ),
        ]
    )
    anything = st.builds(to_frame, messages()) | binary_frames
    sequences = st.lists(anything | moves, max_size=25) | st.lists(moves, min_size=3, max_size=8)

    @fuzz(100)
    @given(frames=sequences)
    def check(frames: list[str | bytes]) -> None:
        follow_session_state(frames, reached)

    check()
    reached.require("malformed", "started", "ended", "second start", "call after the end")


def follow_session_state(frames: list[str | bytes], reached: Reached) -> None:
    count("SessionProtocol: frame sequences")
    session = SessionProtocol()
    state, session_id, pending = SessionState.OPEN, None, {}
    for frame in frames:
        expected = outcome(frame)  # what a fresh session makes of it
        got = outcome_in(session, frame)
        if isinstance(expected, BaseException):
            reached["malformed"] += 1
            assert same(got, expected)
        elif isinstance(expected, vatel.SessionStarted) and state is not SessionState.OPEN:
            reached["second start"] += 1
            assert isinstance(got, vatel.ProtocolError) and state.value in str(got)
        elif isinstance(expected, vatel.ToolCall) and state is SessionState.ENDED:
            reached["call after the end"] += 1
            assert isinstance(got, vatel.ProtocolError) and "ended" in str(got)
        else:
            assert same(got, expected)
            if isinstance(expected, vatel.SessionStarted):
                reached["started"] += 1
                state, session_id = SessionState.STARTED, expected.id
            elif isinstance(expected, vatel.SessionEnded):
                reached["ended"] += 1
                state = SessionState.ENDED
            elif isinstance(expected, vatel.ToolCall):
                pending.pop(expected.tool_call_id, None)
                pending[expected.tool_call_id] = expected.tool_name
        assert (session.state, session.session_id) == (state, session_id)
        assert list(session.pending_tool_calls.items()) == list(pending.items())
    for call_id in list(pending):
        if call_id == "":
            continue  # delivered but unanswerable: test_every_delivered_tool_call_can_be_answered
        if state is SessionState.ENDED:
            with pytest.raises(_protocol.SessionEndedError):
                session.tool_call_output(call_id, "done")
        else:
            session.tool_call_output(call_id, "done")
            del pending[call_id]
    assert dict(session.pending_tool_calls) == pending


def test_every_delivered_tool_call_can_be_answered() -> None:
    """Found by fuzzing: a call the session delivers must be one it can answer (or
    be refused when it arrives, as a ProtocolError, and never become pending)."""
    session = SessionProtocol()
    session.receive(to_frame({"type": "session_started", "data": {"id": "s1"}}))
    frame = to_frame(
        {"type": "tool_call", "data": {"toolCallId": "", "toolName": "n", "arguments": []}}
    )
    try:
        call = session.receive(frame)
    except vatel.ProtocolError:
        assert "" not in session.pending_tool_calls
    else:
        assert isinstance(call, vatel.ToolCall)
        session.tool_call_output(call.tool_call_id, "done")
        assert "" not in session.pending_tool_calls


def outcome_in(session: SessionProtocol, frame: str | bytes) -> object:
    try:
        return session.receive(frame)
    except vatel.ProtocolError as error:
        return error


class TestDeepNesting:
    """JSON nested deeper than Python's recursion limit. (The generic fuzzing above
    stays at 500 levels or less.)"""

    @pytest.mark.parametrize("loads", sorted(PARSERS))
    @pytest.mark.parametrize("depth", [1025, 5000, 100_000])
    @pytest.mark.parametrize("where", ["audio-data", "audio-member", "unknown"])
    def test_nesting_beyond_either_parsers_limit_is_a_protocol_error(
        self, loads: str, depth: int, where: str
    ) -> None:
        inner = nested_text(depth, "object" if depth % 2 else "list")
        frame = {
            "audio-data": '{"type":"response_audio","data":' + inner + "}",
            "audio-member": '{"type":"response_audio","data":{"turn_id":"t","audio":"",'
            '"is_final":true,"x":' + inner + "}}",
            "unknown": unknown_frame(inner),
        }[where]
        with parser(loads), pytest.raises(vatel.ProtocolError, match="nested too deeply"):
            decode_event(frame)

    @pytest.mark.parametrize("loads", sorted(PARSERS))
    @pytest.mark.parametrize("where", ["unknown", "tool-argument"])
    def test_nesting_within_the_parser_limit_decodes_and_prints_briefly(
        self, loads: str, where: str
    ) -> None:
        frame = unknown_frame(nested_text(600))
        if where == "tool-argument":
            frame = tool_call_frame(nested_text(600))
        with parser(loads):
            event = decode_event(frame)
        assert isinstance(event, (vatel.UnknownEvent, vatel.ToolCall))
        assert len(repr(event)) < 1000, "a deep value prints as a short summary"

    @pytest.mark.parametrize("loads", sorted(PARSERS))
    @pytest.mark.parametrize("where", ["unknown", "tool-argument"])
    def test_nesting_at_the_parser_limit_is_refused_or_printable(
        self, loads: str, where: str
    ) -> None:
        frame = unknown_frame(nested_text(1010))
        if where == "tool-argument":
            frame = tool_call_frame(nested_text(1000))
        try:
            with parser(loads):
                event = decode_event(frame)
        except vatel.ProtocolError as error:
            assert "nested too deeply" in str(error)
        else:
            assert len(repr(event)) < 1000


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


def test_encode_input_audio_bytes() -> None:
    reached = Reached()

    @fuzz(300)
    @given(pcm=bytes_like | not_bytes)
    def check(pcm: Any) -> None:
        count("encode_input_audio_bytes")
        acceptable = isinstance(pcm, (bytes, bytearray, memoryview)) and len(pcm) > 0
        acceptable = acceptable and len(pcm) % 2 == 0
        try:
            frame = encode_input_audio_bytes(pcm)
        except vatel.AudioFormatError:
            reached["refused"] += 1
            assert not acceptable
            return
        reached["sent"] += 1
        assert acceptable
        message = check_client_frame(frame, "VoiceSessionClientInputAudioMessage")
        assert message["type"] == "input_audio"
        assert base64.b64decode(message["data"]["audio"], validate=True) == bytes(pcm)

    check()
    reached.require("refused", "sent")


def test_encode_input_audio() -> None:
    reached = Reached()

    @fuzz(300)
    @given(audio=base64_audio() | texts | not_bytes | st.binary(max_size=20))
    @example(audio="")
    @example(audio="AA==\n")
    def check(audio: Any) -> None:
        count("encode_input_audio")
        try:
            pcm = base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
        except (binascii.Error, ValueError):
            pcm = None
        acceptable = pcm is not None and len(pcm) > 0 and len(pcm) % 2 == 0
        try:
            frame = encode_input_audio(audio)
        except vatel.AudioFormatError:
            reached["refused"] += 1
            assert not acceptable
            return
        reached["sent"] += 1
        assert acceptable
        message = check_client_frame(frame, "VoiceSessionClientInputAudioMessage")
        assert message == {"type": "input_audio", "data": {"audio": audio}}

    check()
    reached.require("refused", "sent")


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


def test_encode_tool_call_output() -> None:
    reached = Reached()

    @fuzz(300)
    @given(tool_call_id=texts | json_scalars, output=tool_outputs)
    def check(tool_call_id: Any, output: Any) -> None:
        count("encode_tool_call_output")
        good_id = isinstance(tool_call_id, str)  # "" too: the contract allows it
        try:
            frame = encode_tool_call_output(tool_call_id, output)
        except ValueError:
            reached["bad id"] += 1
            assert not good_id
            return
        except TypeError:
            reached["unsendable output"] += 1
            assert good_id and not isinstance(output, str)
            return
        assert good_id
        message = check_client_frame(frame, "VoiceSessionClientToolCallOutputMessage")
        assert message["type"] == "tool_call_output"
        assert message["data"]["toolCallId"] == tool_call_id
        sent = message["data"]["output"]
        if isinstance(output, str):
            reached["text"] += 1
            assert sent == output
        elif isinstance(output, (set, frozenset)):  # sent as a JSON list, in any order
            reached["set"] += 1
            decoded = json.loads(sent)
            assert isinstance(decoded, list) and len(decoded) == len(output)
            assert set(decoded) == output
        else:  # everything else round-trips (NaN and infinities were refused above)
            reached["json"] += 1
            assert json.loads(sent) == output

    check()
    reached.require("bad id", "unsendable output", "text", "set", "json")


class TestEncoderGaps:
    @pytest.mark.parametrize("where", ["output", "tool_call_id"])
    def test_a_lone_surrogate_is_escaped_and_reaches_the_server_intact(self, where: str) -> None:
        call_id, output = ("call-1", "bad \ud800 text")
        if where == "tool_call_id":
            call_id, output = "call-\udfff", "fine"
        frame = encode_tool_call_output(call_id, output)
        assert frame.isascii(), "an escape, so the frame is valid UTF-8"
        frame.encode("utf-8")
        message = json.loads(frame)
        assert message["data"] == {"toolCallId": call_id, "output": output}

    def test_a_too_deep_output_is_a_documented_error(self) -> None:
        from rel_support import nested

        with pytest.raises((TypeError, ValueError)):
            encode_tool_call_output("call-1", nested(100_000))
