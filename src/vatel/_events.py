"""Typed events of a voice session, one class per server message type.

Every event has ``type``, the wire type string. Events are small immutable
objects; a message type this SDK does not know arrives as :class:`UnknownEvent`.
Two events are the connection's own, never sent by the server:
:class:`Reconnecting` and :class:`Reconnected` (with ``reconnect=``).
"""

from __future__ import annotations

import base64
import importlib
import json
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ._exceptions import ProtocolError

__all__ = [
    "Event",
    "Interruption",
    "InputAudioTranscript",
    "Reconnected",
    "Reconnecting",
    "ResponseAudio",
    "ResponseText",
    "SessionEnded",
    "SessionStarted",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallArgument",
    "UnknownEvent",
]


def _strict_b64decode() -> Callable[..., bytes]:
    # pybase64 (the speedups extra) decodes with SIMD, several times faster than
    # binascii; both accept exactly the strict alphabet with padding.
    try:
        module = importlib.import_module("pybase64")
    except ImportError:  # pragma: no cover - depends on the environment
        return base64.b64decode
    decode: Callable[..., bytes] = module.b64decode
    return decode


_b64decode = _strict_b64decode()


# Values from the server can be huge or nested a thousand levels deep; their
# repr stays short and never recurses far.
_repr = reprlib.Repr()
_repr.maxlevel = 4
_repr.maxstring = _repr.maxother = 120
_short_repr = _repr.repr


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The session is live; ``id`` is its call/session id."""

    type: ClassVar[Literal["session_started"]] = "session_started"
    id: str


@dataclass(frozen=True, slots=True)
class ResponseAudio:
    """A chunk of the agent's speech: base64 PCM16, 24 kHz, mono.

    ``audio`` is the base64 text as received; ``pcm`` decodes it on access
    (so a caller that forwards base64 never pays for decoding), and raises
    :class:`vatel.ProtocolError` when the server sent something else than
    strict base64 of whole 16-bit samples.
    """

    type: ClassVar[Literal["response_audio"]] = "response_audio"
    turn_id: str
    audio: str = field(repr=False)
    is_final: bool

    @property
    def pcm(self) -> bytes:
        """The decoded PCM16 bytes of this chunk.

        Raises :class:`vatel.ProtocolError` when ``audio`` is not strict base64
        of whole 16-bit samples: the server's fault, not the caller's. (Checked
        here, not on receipt: even a length check costs some 7 % of receiving a
        chunk, paid by callers that only forward the base64.)
        """
        try:
            pcm = _b64decode(self.audio, validate=True)
        except ValueError:  # binascii.Error included; also non-ASCII text
            problem = "is not valid base64"
        else:
            if not len(pcm) & 1:
                return pcm
            problem = "decodes to an odd number of bytes"
        raise ProtocolError(
            f"response_audio carries audio that {problem} ({len(self.audio)} characters).",
            frame=self._frame(),
        )

    def _frame(self) -> str:
        """This chunk as the frame it came in (for errors)."""
        data = {"turn_id": self.turn_id, "audio": self.audio, "is_final": self.is_final}
        return json.dumps({"type": self.type, "data": data}, ensure_ascii=False)

    def __repr__(self) -> str:
        return (
            f"ResponseAudio(turn_id={self.turn_id!r}, audio=<{len(self.audio)} base64 chars>, "
            f"is_final={self.is_final!r})"
        )


@dataclass(frozen=True, slots=True)
class ResponseText:
    """The agent's text for a turn; refined until ``is_final`` is true."""

    type: ClassVar[Literal["response_text"]] = "response_text"
    turn_id: str
    text: str
    is_final: bool


@dataclass(frozen=True, slots=True)
class InputAudioTranscript:
    """What the speech-to-text heard from the user; interim until ``is_final``."""

    type: ClassVar[Literal["input_audio_transcript"]] = "input_audio_transcript"
    transcript: str
    is_final: bool
    turn_id: str | None = None


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The user started speaking; ``emulated`` when synthesized by the pipeline."""

    type: ClassVar[Literal["speech_started"]] = "speech_started"
    emulated: bool


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The user stopped speaking."""

    type: ClassVar[Literal["speech_stopped"]] = "speech_stopped"


@dataclass(frozen=True, slots=True)
class Interruption:
    """The user spoke over the agent: stop playing the agent's audio now."""

    type: ClassVar[Literal["interruption"]] = "interruption"


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The server ended the session; the connection closes next."""

    type: ClassVar[Literal["session_ended"]] = "session_ended"


@dataclass(frozen=True, slots=True)
class ToolCallArgument:
    """One argument of a client tool call; ``value``'s shape follows ``data_type``."""

    name: str | None = None
    value: Any = None
    type: str | None = None
    data_type: str | None = None
    description: str | None = None
    required: bool | None = None

    def __repr__(self) -> str:
        return (
            f"ToolCallArgument(name={self.name!r}, value={_short_repr(self.value)}, "
            f"type={self.type!r}, data_type={self.data_type!r})"
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The agent asks the client to run a tool; answer with
    ``send_tool_call_output(tool_call_id, output)``."""

    type: ClassVar[Literal["tool_call"]] = "tool_call"
    tool_call_id: str
    tool_name: str
    arguments: tuple[ToolCallArgument, ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        """The named arguments as a name → value mapping."""
        return {a.name: a.value for a in self.arguments if a.name is not None}


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A message type this SDK does not know yet, kept whole."""

    type: str
    data: Mapping[str, Any] | Any

    def __repr__(self) -> str:
        return f"UnknownEvent(type={self.type!r}, data={_short_repr(self.data)})"


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped with close ``code`` and dial ``attempt`` (1, 2, ...)
    is about to be made.

    Not a server message: the connection delivers it itself, with
    ``reconnect=``. Audio sent until :class:`Reconnected` is dropped (counted
    in ``conn.stats.audio_chunks_dropped``).
    """

    type: ClassVar[Literal["reconnecting"]] = "reconnecting"
    attempt: int
    code: int


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The connection is back after ``gap_seconds`` down: a new session, whose
    ``session_started`` (with a new id) comes next.

    Not a server message: the connection delivers it itself, with ``reconnect=``.
    """

    type: ClassVar[Literal["reconnected"]] = "reconnected"
    gap_seconds: float


Event = (
    SessionStarted
    | ResponseAudio
    | ResponseText
    | InputAudioTranscript
    | SpeechStarted
    | SpeechStopped
    | Interruption
    | ToolCall
    | SessionEnded
    | UnknownEvent
    | Reconnecting
    | Reconnected
)
"""Any event a voice session can deliver: the server's, and the connection's
own :class:`Reconnecting` / :class:`Reconnected`."""
