"""The voice-session protocol, without I/O.

:class:`SessionProtocol` turns server text frames into typed events and client
commands into text frames, and owns the little state a session has. The sync
and async connections both move frames between a WebSocket and one of these;
neither parses or builds a frame itself.

Session states, and what each server message does in each (``_TRANSITIONS``)::

                      session_started   session_ended   tool_call   anything else
    OPEN              → STARTED         → ENDED         pending     kept
    STARTED           refused           → ENDED         pending     kept
    ENDED             refused           kept            refused     kept

"kept" delivers the event and leaves the state as it is, "pending" also records
the call until it is answered (at most ``max_pending_tool_calls``); "refused" raises
:class:`ProtocolError` and changes nothing (a second ``session_started`` never
replaces the session id, and a tool call nobody may answer any more is not
handed out). Once the session has ended, every client command raises
:class:`SessionEndedError` instead of producing a frame.

Frames are ``{"type": str, "data": object}``. A frame that is not JSON, not an
object, lacks ``type``, or carries ``data`` the contract does not allow for a
known type raises :class:`ProtocolError` and leaves the state untouched, so the
session can go on. An unknown ``type`` becomes an :class:`UnknownEvent`, and
members a known type does not define are ignored. Audio base64 is checked
when it is decoded (:attr:`ResponseAudio.pcm`), so forwarding it costs nothing.

Decoding is the same whichever JSON parser runs: orjson (the speedups extra)
reads only what it reads exactly like the standard library — a well-formed
audio chunk — and everything else is parsed by the standard library, so big
integers stay exact and a repeated key means what the stdlib says (the last
one wins, as in JavaScript). A lone UTF-16 surrogate (a ``"\\ud800"`` escape)
in any string of a frame becomes U+FFFD, so every text an event carries can be
printed and encoded.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from typing_extensions import Buffer

from ._events import (
    Event,
    InputAudioTranscript,
    Interruption,
    ResponseAudio,
    ResponseText,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    ToolCallArgument,
    UnknownEvent,
    _short_repr,
)
from ._exceptions import AudioFormatError, ProtocolError, SessionEndedError
from ._pcm import pcm16_bytes
from ._serialize import tool_output_text

__all__ = ["SessionProtocol", "SessionState", "decode_event"]

log = logging.getLogger("vatel")


class SessionState(enum.Enum):
    """Where a voice session is in its life."""

    OPEN = "open"
    STARTED = "started"
    ENDED = "ended"


_OPEN, _STARTED, _ENDED = SessionState.OPEN, SessionState.STARTED, SessionState.ENDED

_TRANSITIONS: dict[tuple[SessionState, str], SessionState | None] = {
    (_OPEN, "session_started"): _STARTED,
    (_OPEN, "session_ended"): _ENDED,
    (_STARTED, "session_started"): None,
    (_STARTED, "session_ended"): _ENDED,
    (_ENDED, "session_started"): None,
    (_ENDED, "tool_call"): None,
}
"""(state, message type) → the next state, or ``None`` when the message is refused
in that state. A pair not listed leaves the state as it is."""


# -- parsing --------------------------------------------------------------------

_decoder: Any = json.JSONDecoder()  # the settings of json.loads
_scan_once: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once


def _json_loads(text: str) -> Any:
    """``json.loads`` without its wrapper for the usual compact frame.

    Text that is one JSON value with no surrounding whitespace goes straight to
    the stdlib's (C) scanner; anything else, including every invalid frame, goes
    through ``json.loads``, so results and error messages are the same.
    """
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        pass
    else:
        if end == len(text):
            return value
    return json.loads(text)


try:
    import orjson

    _fast_loads: Callable[[str], Any] | None = orjson.loads
except ImportError:  # The speedups extra is optional; the stdlib parser is correct, only slower.
    _fast_loads = None

# The frames orjson may read: its reading of an audio chunk is the stdlib's.
_AUDIO_FRAME_STARTS = ('{"type":"response_audio",', '{"type": "response_audio",')

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _replace_surrogates(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text)


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` (parsed JSON) with U+FFFD for each lone surrogate in its strings
    and keys; containers are fixed in place, without recursion."""
    if type(value) is str:
        return _replace_surrogates(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is list:
            for index, item in enumerate(node):
                if type(item) is str:
                    node[index] = _replace_surrogates(item)
                elif type(item) is list or type(item) is dict:
                    stack.append(item)
        elif type(node) is dict:
            pairs = list(node.items())
            node.clear()
            for key, item in pairs:
                if type(item) is str:
                    item = _replace_surrogates(item)
                elif type(item) is list or type(item) is dict:
                    stack.append(item)
                node[_replace_surrogates(key)] = item
    return value


def _parse(frame: str) -> Any:
    """The stdlib's reading of a frame, lone surrogates replaced.

    orjson refuses lone surrogates, so they always come this way.
    """
    # A WebSocket text frame is UTF-8 and cannot carry a raw surrogate; a caller can.
    if not frame.isascii() and _LONE_SURROGATE.search(frame) is not None:
        frame = _replace_surrogates(frame)
    try:
        message = _json_loads(frame)
    except RecursionError:
        raise ProtocolError(
            "The server sent a frame nested too deeply to decode.", frame=frame
        ) from None
    except ValueError as exc:
        raise ProtocolError(
            f"The server sent a frame that is not JSON: {exc}.", frame=frame
        ) from None
    # A lone surrogate can only come from an escape; a backslash is a cheap first test.
    if "\\" in frame and ("\\ud" in frame or "\\uD" in frame):
        message = _without_lone_surrogates(message)
    return message


def _text(frame: str | bytes) -> str:
    if isinstance(frame, str):
        return str(frame)
    raise ProtocolError(
        f"The server sent a binary frame ({len(frame)} bytes); only JSON text is allowed.",
        frame=frame,
    )


def _flat(members: dict[str, Any]) -> bool:
    """No member is a container: the object is nested one level at most."""
    # A plain loop: all() over a generator costs several times as much here.
    for value in members.values():  # noqa: SIM110
        if type(value) is dict or type(value) is list:
            return False
    return True


# -- decoding -------------------------------------------------------------------


def _invalid(type_: str, detail: str) -> ProtocolError:
    return ProtocolError(f"Invalid {type_!r} message from the server: {detail}.")


def _get(data: dict[str, Any], type_: str, key: str, kind: type, *, required: bool = True) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise _invalid(type_, f"data.{key} is missing")
        return None
    # bool is an int subclass; an exact check keeps 1 from passing as True.
    if type(value) is not kind:
        raise _invalid(type_, f"data.{key} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _session_started(data: dict[str, Any]) -> SessionStarted:
    return SessionStarted(_get(data, "session_started", "id", str))


def _response_audio(data: dict[str, Any]) -> ResponseAudio:
    # SessionProtocol.receive builds well-formed chunks itself; this says what is
    # wrong, or builds a chunk whose other members needed the stdlib's reading.
    # The base64 is checked by ResponseAudio.pcm, when it is decoded.
    return ResponseAudio(
        _get(data, "response_audio", "turn_id", str),
        _get(data, "response_audio", "audio", str),
        _get(data, "response_audio", "is_final", bool),
    )


def _response_text(data: dict[str, Any]) -> ResponseText:
    return ResponseText(
        _get(data, "response_text", "turn_id", str),
        _get(data, "response_text", "text", str),
        _get(data, "response_text", "is_final", bool),
    )


def _input_audio_transcript(data: dict[str, Any]) -> InputAudioTranscript:
    name = "input_audio_transcript"
    return InputAudioTranscript(
        _get(data, name, "transcript", str),
        _get(data, name, "is_final", bool),
        _get(data, name, "turn_id", str, required=False),
    )


def _speech_started(data: dict[str, Any]) -> SpeechStarted:
    return SpeechStarted(_get(data, "speech_started", "emulated", bool))


def _tool_argument(raw: Any) -> ToolCallArgument:
    if not isinstance(raw, dict):
        raise _invalid("tool_call", "each argument must be an object")
    name = "tool_call"
    return ToolCallArgument(
        name=_get(raw, name, "name", str, required=False),
        value=raw.get("value"),
        type=_get(raw, name, "type", str, required=False),
        data_type=_get(raw, name, "dataType", str, required=False),
        description=_get(raw, name, "description", str, required=False),
        required=_get(raw, name, "required", bool, required=False),
    )


def _tool_call(data: dict[str, Any]) -> ToolCall:
    arguments = _get(data, "tool_call", "arguments", list)
    return ToolCall(
        _get(data, "tool_call", "toolCallId", str),
        _get(data, "tool_call", "toolName", str),
        tuple(_tool_argument(a) for a in arguments),
    )


# Signalling-only messages carry an empty object; anything extra is tolerated.
_SPEECH_STOPPED = SpeechStopped()
_INTERRUPTION = Interruption()
_SESSION_ENDED = SessionEnded()

_DECODERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "response_audio": _response_audio,
    "response_text": _response_text,
    "input_audio_transcript": _input_audio_transcript,
    "speech_started": _speech_started,
    "speech_stopped": lambda _: _SPEECH_STOPPED,
    "interruption": lambda _: _INTERRUPTION,
    "tool_call": _tool_call,
    "session_started": _session_started,
    "session_ended": lambda _: _SESSION_ENDED,
}


def _decode_message(message: Any, frame: str) -> Event:
    """The event for a frame's parsed JSON (``frame`` is kept in errors)."""
    if type(message) is not dict:
        raise ProtocolError("The server sent a frame that is not a JSON object.", frame=frame)
    type_ = message.get("type")
    if type(type_) is not str:
        raise ProtocolError("The server sent a frame without a string 'type'.", frame=frame)
    data = message.get("data")
    decoder = _DECODERS.get(type_)
    if decoder is None:
        return UnknownEvent(type_, data)
    if data is None:
        data = {}
    elif type(data) is not dict:
        error = _invalid(type_, "data must be an object")
        error.frame = frame[:1000]
        raise error
    try:
        return decoder(data)
    except ProtocolError as error:
        error.frame = frame[:1000]
        raise


def decode_event(frame: str | bytes) -> Event:
    """Decode one server frame into an event, as a fresh session would.

    Raises :class:`ProtocolError` for a binary frame or a frame the contract
    does not allow; returns :class:`UnknownEvent` for a type not known here.
    """
    return SessionProtocol().receive(frame)


# -- encoding -------------------------------------------------------------------

_AUDIO_PREFIX = '{"type":"input_audio","data":{"audio":"'
_AUDIO_SUFFIX = '"}}'


def _checked_pcm(pcm: Buffer) -> bytes:
    # Type, item type, strides and odd byte counts are checked where every other
    # PCM16 input is; only an empty chunk is special to the wire.
    data = pcm16_bytes(pcm)
    if not data:
        raise AudioFormatError("PCM audio chunk is empty.")
    return data


def encode_input_audio_bytes(pcm: Buffer) -> str:
    """The ``input_audio`` frame for a chunk of PCM16 24 kHz mono audio.

    ``pcm`` is bytes or any C-contiguous buffer of 16-bit samples (an
    ``array.array("h")``, a numpy ``int16`` array).
    """
    encoded = binascii.b2a_base64(_checked_pcm(pcm), newline=False).decode("ascii")
    # Base64 never needs JSON escaping, so the frame is assembled directly.
    return _AUDIO_PREFIX + encoded + _AUDIO_SUFFIX


def encode_input_audio(audio: str) -> str:
    """The ``input_audio`` frame for a base64 PCM16 chunk, checked first."""
    if not isinstance(audio, str):
        raise AudioFormatError(f"Base64 audio must be str, got {type(audio).__name__}.")
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise AudioFormatError(f"Audio is not valid base64 ({len(audio)} characters).") from None
    _checked_pcm(pcm)
    return _AUDIO_PREFIX + audio + _AUDIO_SUFFIX


def encode_tool_call_output(tool_call_id: str, output: Any) -> str:
    """The ``tool_call_output`` frame: a str output as is, anything else as JSON."""
    # Any string: the contract lets the server use an empty id, and its call
    # must still be answerable.
    if not isinstance(tool_call_id, str):
        raise ValueError(f"tool_call_id must be a string, got {_short_repr(tool_call_id)}")
    output = tool_output_text(output)
    # ASCII escapes keep the frame valid UTF-8 even for a lone surrogate in a str.
    return json.dumps(
        {"type": "tool_call_output", "data": {"toolCallId": tool_call_id, "output": output}}
    )


# -- the session ----------------------------------------------------------------

_PENDING_CHARS = 1 << 20
"""Characters of ids and tool names the pending calls may hold together, so a
server sending huge ids cannot make the record grow past a few MiB."""

_EVICTED_REMEMBERED = 4096
"""Evicted calls remembered (by hash) to log a late answer at DEBUG, not WARNING."""


class SessionProtocol:
    """State and codec of one voice session; no I/O.

    ``max_pending_tool_calls`` bounds the record of tool calls received and not
    answered yet: past it, the oldest is forgotten (a WARNING the first time and
    then at every power of two, ``evicted_tool_calls`` counts them all). An
    answer to a forgotten call is still sent.
    """

    def __init__(self, *, max_pending_tool_calls: int = 256) -> None:
        if type(max_pending_tool_calls) is not int or max_pending_tool_calls < 1:
            raise ValueError(
                "max_pending_tool_calls must be a positive int, "
                f"got {_short_repr(max_pending_tool_calls)}"
            )
        self.state = SessionState.OPEN
        self.session_id: str | None = None
        self.max_pending_tool_calls = max_pending_tool_calls
        self.evicted_tool_calls = 0
        """Unanswered tool calls forgotten to keep the record within its bound."""
        self._pending: dict[str, str] = {}
        self._pending_chars = 0
        self._evicted: dict[int, None] = {}

    @property
    def pending_tool_calls(self) -> Mapping[str, str]:
        """Tool calls received and not answered yet: id → tool name, oldest first."""
        return MappingProxyType(self._pending)

    # -- receiving ---------------------------------------------------------------

    def receive(self, frame: str | bytes) -> Event:
        """Decode a server frame and apply it to the session's state.

        Raises :class:`ProtocolError` for a frame the contract does not allow,
        or does not allow in the session's state; the state is then unchanged.
        This is the only decoder: :func:`decode_event` uses it too.
        """
        if type(frame) is not str:
            frame = _text(frame)
        message: Any = None
        fast = False
        if _fast_loads is not None and frame.startswith(_AUDIO_FRAME_STARTS):
            try:
                message = _fast_loads(frame)
                fast = True
            except ValueError:
                pass  # The stdlib parser has the last word, and words the error.
        if not fast:
            message = _parse(frame)
        # The hot path, 50 times a second per session: a well-formed audio chunk.
        if type(message) is dict and message.get("type") == "response_audio":
            data = message.get("data")
            if type(data) is dict:
                turn_id = data.get("turn_id")
                audio = data.get("audio")
                is_final = data.get("is_final")
                if (
                    type(turn_id) is str
                    and type(audio) is str
                    and type(is_final) is bool
                    # orjson reads differently only integers beyond 64 bits (a chunk's
                    # fields have none) and nesting near the stdlib's depth limit,
                    # which takes members that are not flat and hundreds of brackets.
                    and (
                        not fast
                        or (
                            (len(message) == 2 or _flat(message))
                            and (len(data) == 3 or len(frame) - len(audio) < 256 or _flat(data))
                        )
                    )
                ):
                    return ResponseAudio(turn_id, audio, is_final)  # Audio never moves the state.
        if fast:
            message = _parse(frame)
        event = _decode_message(message, frame)
        move = _TRANSITIONS.get((self.state, event.type), self.state)
        if move is None:
            raise ProtocolError(
                f"The server sent {event.type!r} while the session is {self.state.value}, "
                "which the protocol does not allow; it was not applied.",
                frame=frame,
            )
        if type(event) is SessionStarted:
            self.session_id = event.id
        elif type(event) is ToolCall:
            self._remember(event)
        self.state = move
        return event

    def _remember(self, call: ToolCall) -> None:
        pending = self._pending
        call_id = call.tool_call_id
        known = pending.pop(call_id, None)
        if known is not None:
            self._pending_chars -= len(call_id) + len(known)
        pending[call_id] = call.tool_name
        self._pending_chars += len(call_id) + len(call.tool_name)
        while len(pending) > 1 and (
            len(pending) > self.max_pending_tool_calls or self._pending_chars > _PENDING_CHARS
        ):
            self._evict(next(iter(pending)))

    def _evict(self, call_id: str) -> None:
        name = self._pending.pop(call_id)
        self._pending_chars -= len(call_id) + len(name)
        self._evicted[hash(call_id)] = None
        if len(self._evicted) > _EVICTED_REMEMBERED:
            del self._evicted[next(iter(self._evicted))]
        self.evicted_tool_calls += 1
        count = self.evicted_tool_calls
        # A flood of calls would otherwise flood the log: 1st, 2nd, 4th, 8th... only.
        level = logging.WARNING if count & (count - 1) == 0 else logging.DEBUG
        log.log(
            level,
            "Forgetting unanswered tool call %s (%s): more than %d are pending "
            "(%d forgotten so far). An answer to it is still sent.",
            _short_repr(call_id),
            _short_repr(name),
            self.max_pending_tool_calls,
            count,
        )

    # -- sending -------------------------------------------------------------------

    def _check_not_ended(self) -> None:
        if self.state is _ENDED:
            raise SessionEndedError()

    def input_audio(self, audio: str) -> str:
        """Frame for base64 PCM16 audio."""
        self._check_not_ended()
        return encode_input_audio(audio)

    def input_audio_bytes(self, pcm: Buffer) -> str:
        """Frame for raw PCM16 audio."""
        self._check_not_ended()
        return encode_input_audio_bytes(pcm)

    def tool_call_output(self, tool_call_id: str, output: Any) -> str:
        """Frame answering a tool call."""
        self._check_not_ended()
        frame = encode_tool_call_output(tool_call_id, output)
        name = self._pending.pop(tool_call_id, None)
        if name is not None:
            self._pending_chars -= len(tool_call_id) + len(name)
        elif hash(tool_call_id) in self._evicted:
            del self._evicted[hash(tool_call_id)]
            log.debug(
                "Sending output for tool call %s, forgotten while pending.",
                _short_repr(tool_call_id),
            )
        else:
            log.warning(
                "Sending output for tool call %s, which is not pending.", _short_repr(tool_call_id)
            )
        return frame
