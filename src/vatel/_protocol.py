"""The voice-session protocol, without I/O.

:class:`SessionProtocol` turns server text frames into typed events and client
commands into text frames, and keeps the little state a session has. The sync
and async connections both move frames between a WebSocket and one of these;
neither parses or builds a frame itself.

Session states and what moves them::

    OPEN ──session_started──▶ STARTED ──session_ended──▶ ENDED
      └────────────────session_ended──────────────────────▲

Frames are ``{"type": str, "data": object}``. A frame that is not JSON, not an
object, lacks ``type``, or carries ``data`` the contract does not allow for a
known type raises :class:`ProtocolError` and leaves the state untouched, so the
session can go on. An unknown ``type`` becomes an :class:`UnknownEvent`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
from collections.abc import Callable
from typing import Any

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
)
from ._exceptions import AudioFormatError, ProtocolError
from ._serialize import tool_output_text

__all__ = ["SessionProtocol", "SessionState", "decode_event"]

log = logging.getLogger("vatel")

_decoder: Any = json.JSONDecoder()  # the settings of json.loads
_scan_once: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once


def _json_loads(text: str | bytes) -> Any:
    """``json.loads`` without its wrapper for the usual compact frame.

    Text that is one JSON value with no surrounding whitespace goes straight to
    the stdlib's (C) scanner; anything else, including every invalid frame, goes
    through ``json.loads``, so results and error messages are the same.
    """
    if type(text) is str:
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

# orjson turns integers beyond 64 bits into floats. Audio frames carry no
# integers at all, so only they take it; every other message keeps its numbers exact.
_AUDIO_FRAME_STARTS = ('{"type":"response_audio",', '{"type": "response_audio",')


def _loads(frame: str) -> Any:
    """Parse a text frame (``ValueError`` or ``RecursionError`` when it is not JSON)."""
    if _fast_loads is not None and frame.startswith(_AUDIO_FRAME_STARTS):
        return _fast_loads(frame)
    return _json_loads(frame)


class SessionState(enum.Enum):
    """Where a voice session is in its life."""

    OPEN = "open"
    STARTED = "started"
    ENDED = "ended"


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
    # The hot path: 50 of these a second per session. Check types without
    # helpers and leave base64 decoding to ResponseAudio.pcm.
    turn_id = data.get("turn_id")
    audio = data.get("audio")
    is_final = data.get("is_final")
    if type(turn_id) is str and type(audio) is str and type(is_final) is bool:
        return ResponseAudio(turn_id, audio, is_final)
    _get(data, "response_audio", "turn_id", str)
    _get(data, "response_audio", "audio", str)
    _get(data, "response_audio", "is_final", bool)
    raise AssertionError("unreachable")  # pragma: no cover


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


def decode_event(frame: str | bytes) -> Event:
    """Decode one server frame into an event.

    Raises :class:`ProtocolError` for a binary frame or a frame the contract
    does not allow; returns :class:`UnknownEvent` for a type not known here.
    """
    if not isinstance(frame, str):
        raise ProtocolError(
            f"The server sent a binary frame ({len(frame)} bytes); only JSON text is allowed.",
            frame=frame,
        )
    try:
        message = _loads(frame)
    except (ValueError, RecursionError) as exc:
        raise _not_json(exc, frame) from None
    return _decode_message(message, frame)


def _not_json(exc: Exception, frame: str) -> ProtocolError:
    if isinstance(exc, RecursionError):
        return ProtocolError("The server sent a frame nested too deeply to decode.", frame=frame)
    return ProtocolError(f"The server sent a frame that is not JSON: {exc}.", frame=frame)


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


# -- encoding -------------------------------------------------------------------

_AUDIO_PREFIX = '{"type":"input_audio","data":{"audio":"'
_AUDIO_SUFFIX = '"}}'


def _checked_pcm(pcm: bytes) -> bytes:
    if not isinstance(pcm, (bytes, bytearray, memoryview)):
        raise AudioFormatError(f"PCM audio must be bytes, got {type(pcm).__name__}.")
    # A memoryview's len() counts items, not bytes; bytes() of bytes is free.
    pcm = bytes(pcm)
    if len(pcm) == 0:
        raise AudioFormatError("PCM audio chunk is empty.")
    if len(pcm) % 2:
        raise AudioFormatError(
            f"PCM16 audio needs an even number of bytes, got {len(pcm)}: "
            "each sample is 2 bytes (16-bit little-endian, 24 kHz, mono)."
        )
    return pcm


def encode_input_audio_bytes(pcm: bytes) -> str:
    """The ``input_audio`` frame for a chunk of PCM16 24 kHz mono bytes."""
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
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise ValueError(f"tool_call_id must be a non-empty string, got {tool_call_id!r}")
    output = tool_output_text(output)
    # ASCII escapes keep the frame valid UTF-8 even for a lone surrogate in a str.
    return json.dumps(
        {"type": "tool_call_output", "data": {"toolCallId": tool_call_id, "output": output}}
    )


class SessionProtocol:
    """State and codec of one voice session; no I/O."""

    def __init__(self) -> None:
        self.state = SessionState.OPEN
        self.session_id: str | None = None
        self.pending_tool_calls: dict[str, ToolCall] = {}
        """Tool calls received and not answered yet, by id."""

    def receive(self, frame: str | bytes) -> Event:
        """Decode a server frame and apply it to the session's state."""
        if type(frame) is not str:
            return self._apply(decode_event(frame))
        try:
            message = _loads(frame)
        except (ValueError, RecursionError) as exc:
            raise _not_json(exc, frame) from None
        # The hot path, 50 times a second per session: a well-formed audio chunk
        # is built inline; anything else takes the general decoder.
        if type(message) is dict and message.get("type") == "response_audio":
            data = message.get("data")
            if type(data) is dict:
                turn_id = data.get("turn_id")
                audio = data.get("audio")
                is_final = data.get("is_final")
                if type(turn_id) is str and type(audio) is str and type(is_final) is bool:
                    return ResponseAudio(turn_id, audio, is_final)
        return self._apply(_decode_message(message, frame))

    def _apply(self, event: Event) -> Event:
        if type(event) is SessionStarted:
            self.session_id = event.id
            if self.state is SessionState.OPEN:
                self.state = SessionState.STARTED
        elif type(event) is ToolCall:
            self.pending_tool_calls[event.tool_call_id] = event
        elif type(event) is SessionEnded:
            self.state = SessionState.ENDED
        return event

    def input_audio(self, audio: str) -> str:
        """Frame for base64 PCM16 audio."""
        return encode_input_audio(audio)

    def input_audio_bytes(self, pcm: bytes) -> str:
        """Frame for raw PCM16 audio."""
        return encode_input_audio_bytes(pcm)

    def tool_call_output(self, tool_call_id: str, output: Any) -> str:
        """Frame answering a tool call."""
        frame = encode_tool_call_output(tool_call_id, output)
        if self.pending_tool_calls.pop(tool_call_id, None) is None:
            log.warning("Sending output for tool call %r, which is not pending.", tool_call_id)
        return frame
