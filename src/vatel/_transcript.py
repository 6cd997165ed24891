"""The conversation of one voice session, assembled from its events.

A :class:`Transcript` sees what the connection delivers and sends (three hooks,
no I/O) and keeps the session's turns: what the user said, what the agent said
and for how long, the tool calls and their outputs, and the interruptions; with
two latencies per user turn, measured from the end of the user's speech
(``speech_stopped``):

- *response latency*: to the first ``response_audio`` chunk of an agent turn
  that began after it, the moment the caller can hear the reply;
- *transcript latency*: to the next final ``input_audio_transcript``.

Both pair a measure with the user's *latest* speech end: a speech end that gets
no reply before the next one counts as unanswered, and one that gets no
transcript before the next one is taken for noise. An agent turn with no speech
end before it (a greeting) has no response latency; an interrupted turn keeps
the latency of its first chunk. Percentiles are nearest-rank.

Memory is bounded for any session: at most ``max_turns`` turns are kept (the
oldest go first, counted in :attr:`Transcript.dropped_turns`), every text is cut
to ``max_text`` characters, and the latency figures cover the last
``max_turns`` samples of each kind. The audio path costs O(1) per chunk: its
length is read from the base64 text, never decoded.

The hooks and the readers take one lock, so the sync connection's tool threads
may report outputs while its receiving thread delivers events.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from ._events import (
    Event,
    InputAudioTranscript,
    Interruption,
    ResponseAudio,
    ResponseText,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
)

__all__ = [
    "AgentTurn",
    "InterruptionTurn",
    "LatencySummary",
    "ToolCallTurn",
    "Transcript",
    "Turn",
    "TurnLatency",
    "UserTurn",
]

DEFAULT_MAX_TURNS = 1000
DEFAULT_MAX_TEXT = 4000
_MAX_ARGUMENTS = 32
_CUT = "…"
_AUDIO_BYTES_PER_SECOND = 24_000 * 2  # response_audio is PCM16, mono, 24 kHz


# -- the records ---------------------------------------------------------------------
#
# Times are seconds since the transcript was created (about when the connection
# opened), on the transcript's clock; latencies are in seconds.


@dataclass(frozen=True, slots=True)
class UserTurn:
    """What the user said: one final ``input_audio_transcript``."""

    kind: ClassVar[Literal["user"]] = "user"
    text: str
    turn_id: str | None
    at: float
    """When the final transcript arrived."""
    speech_started_at: float | None = None
    speech_stopped_at: float | None = None
    transcript_latency: float | None = None
    """From ``speech_stopped`` to the final transcript; None without a speech end before it."""
    response_latency: float | None = None
    """From ``speech_stopped`` to the first audio of the reply; None while unanswered."""


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """What the agent said in one turn (one ``turn_id``)."""

    kind: ClassVar[Literal["agent"]] = "agent"
    turn_id: str
    text: str
    """The final ``response_text``; the latest interim one if no final text came."""
    at: float
    """When the turn's first text or audio arrived."""
    audio_seconds: float = 0.0
    """Seconds of audio received for this turn."""
    finished: bool = False
    """True once the turn's final audio chunk arrived."""
    interrupted: bool = False
    """True when the user spoke over it before it finished."""
    first_audio_at: float | None = None
    response_latency: float | None = None
    """From the user's ``speech_stopped`` to this turn's first audio; None for a
    turn that answers no speech (a greeting, a second turn of the same reply)."""


@dataclass(frozen=True, slots=True)
class ToolCallTurn:
    """A tool call the agent made, and the output sent back."""

    kind: ClassVar[Literal["tool_call"]] = "tool_call"
    tool_call_id: str
    name: str
    arguments: Mapping[str, Any]
    """The named arguments (the first 32); a value whose JSON would take the text
    past ``max_text`` characters is replaced by ``"…"``."""
    at: float
    """When the call arrived."""
    output: str | None = None
    """The output text sent; None until it is sent."""
    answered_at: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from receiving the call to sending its output."""
        return None if self.answered_at is None else self.answered_at - self.at


@dataclass(frozen=True, slots=True)
class InterruptionTurn:
    """The user spoke over the agent; ``turn_ids`` are the agent turns it cut short."""

    kind: ClassVar[Literal["interruption"]] = "interruption"
    at: float
    turn_ids: tuple[str, ...] = ()


Turn = UserTurn | AgentTurn | ToolCallTurn | InterruptionTurn
"""Any entry of a :class:`Transcript`."""


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """One latency over a session, in seconds; the figures are None with no sample.

    Percentiles are nearest-rank: the smallest sample that at least ``p`` % of
    the samples do not exceed (always a latency that happened).
    """

    count: int
    p50: float | None = None
    p95: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, samples: Iterable[float]) -> LatencySummary:
        """The summary of ``samples``."""
        ordered = sorted(samples)
        if not ordered:
            return cls(0)
        return cls(
            len(ordered), _nearest_rank(ordered, 50), _nearest_rank(ordered, 95), ordered[-1]
        )

    def format(self) -> str:
        """``p50 412 ms, p95 530 ms (3 turns)``, or ``n/a (0 turns)``."""
        turns = f"({self.count} turn{'' if self.count == 1 else 's'})"
        if self.p50 is None or self.p95 is None:
            return f"n/a {turns}"
        return f"p50 {_ms(self.p50)}, p95 {_ms(self.p95)} {turns}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, in milliseconds."""
        return {
            "count": self.count,
            "p50_ms": _rounded_ms(self.p50),
            "p95_ms": _rounded_ms(self.p95),
            "max_ms": _rounded_ms(self.max),
        }


@dataclass(frozen=True, slots=True)
class TurnLatency:
    """The session's per-turn latencies (``transcript.latency``)."""

    response: LatencySummary
    """From the end of the user's speech to the first audio of the agent's reply."""
    transcript: LatencySummary
    """From the end of the user's speech to its final transcript."""
    unanswered: int = 0
    """Speech ends with no reply (yet): the user spoke again first, or the session ended."""

    def format(self) -> str:
        """``response p50 412 ms, p95 530 ms (3 turns); transcript p50 …``."""
        return f"response {self.response.format()}; transcript {self.transcript.format()}"

    __str__ = format

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, in milliseconds."""
        return {
            "response": self.response.to_dict(),
            "transcript": self.transcript.to_dict(),
            "unanswered": self.unanswered,
        }


def _nearest_rank(ordered: list[float], percent: int) -> float:
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _rounded_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- drafts: the turns while they still change ------------------------------------------


class _UserDraft:
    __slots__ = ("at", "response_latency", "started_at", "stopped_at", "text", "turn_id")

    def __init__(self, started_at: float | None = None) -> None:
        self.started_at = started_at
        self.stopped_at: float | None = None
        self.text: str | None = None
        self.turn_id: str | None = None
        self.at = 0.0
        self.response_latency: float | None = None

    def freeze(self) -> UserTurn:
        stopped = self.stopped_at
        # None when the transcript came first: heard before the speech end arrived.
        latency = self.at - stopped if stopped is not None and stopped <= self.at else None
        return UserTurn(
            text=self.text or "",
            turn_id=self.turn_id,
            at=self.at,
            speech_started_at=self.started_at,
            speech_stopped_at=stopped,
            transcript_latency=latency,
            response_latency=self.response_latency,
        )


def _key(server_id: str) -> str:
    """What a turn or tool-call id is looked up by: the id itself, or for one of
    the huge ids a server may send, a digest, so the lookup tables stay small."""
    if len(server_id) <= _ID_KEPT:
        return server_id
    return hashlib.blake2b(server_id.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


_ID_KEPT = 200


class _AgentDraft:
    __slots__ = (
        "after_stops",
        "at",
        "audio_bytes",
        "final_text",
        "finished",
        "first_audio_at",
        "interrupted",
        "key",
        "response_latency",
        "text",
        "turn_id",
    )

    def __init__(self, key: str, turn_id: str, at: float, after_stops: int) -> None:
        self.key = key
        self.turn_id = turn_id
        self.at = at
        self.after_stops = after_stops
        self.text = ""
        self.final_text = False
        self.audio_bytes = 0
        self.finished = False
        self.interrupted = False
        self.first_audio_at: float | None = None
        self.response_latency: float | None = None

    def freeze(self) -> AgentTurn:
        return AgentTurn(
            turn_id=self.turn_id,
            text=self.text,
            at=self.at,
            audio_seconds=self.audio_bytes / _AUDIO_BYTES_PER_SECOND,
            finished=self.finished,
            interrupted=self.interrupted,
            first_audio_at=self.first_audio_at,
            response_latency=self.response_latency,
        )


class _ToolDraft:
    __slots__ = ("answered_at", "arguments", "at", "key", "name", "output", "tool_call_id")

    def __init__(
        self, key: str, tool_call_id: str, name: str, arguments: dict[str, Any], at: float
    ) -> None:
        self.key = key
        self.tool_call_id = tool_call_id
        self.name = name
        self.arguments = arguments
        self.at = at
        self.output: str | None = None
        self.answered_at: float | None = None

    def freeze(self) -> ToolCallTurn:
        return ToolCallTurn(
            tool_call_id=self.tool_call_id,
            name=self.name,
            arguments=dict(self.arguments),
            at=self.at,
            output=self.output,
            answered_at=self.answered_at,
        )


_Entry = _UserDraft | _AgentDraft | _ToolDraft | InterruptionTurn


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + _CUT


def _base64_bytes(audio: str) -> int:
    """How many bytes ``audio`` (base64 text) decodes to, without decoding it."""
    size = len(audio)
    padding = (size > 0 and audio[-1] == "=") + (size > 1 and audio[-2] == "=")
    return max(0, size // 4 * 3 - padding)


def _json_size(value: Any) -> float:
    if value is None or isinstance(value, (bool, int, float)):
        return 8
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value, ensure_ascii=False, default=repr))
    except (ValueError, TypeError, RecursionError):
        return math.inf


def _bounded_arguments(kwargs: Mapping[str, Any], budget: int) -> dict[str, Any]:
    """``kwargs`` with the values that do not fit ``budget`` characters in all replaced."""
    kept: dict[str, Any] = {}
    left = float(budget)
    for count, (name, value) in enumerate(kwargs.items()):
        if count == _MAX_ARGUMENTS:
            break
        size = _json_size(value)
        if size <= left:
            kept[_cut(name, 100)] = value
            left -= size
        else:
            kept[_cut(name, 100)] = _CUT
    return kept


# -- the transcript ----------------------------------------------------------------------


class Transcript:
    """The turns of one voice session, with per-turn latency (``conn.transcript``).

    Read :attr:`turns` (a snapshot of frozen records, in the order they began),
    :attr:`latency` (p50/p95/max over the session) and ``str(transcript)``.
    ``clock`` gives the time in seconds (``time.monotonic`` by default); at most
    ``max_turns`` turns are kept and every text is cut to ``max_text`` characters.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_turns: int = DEFAULT_MAX_TURNS,
        max_text: int = DEFAULT_MAX_TEXT,
    ) -> None:
        for name, value in (("max_turns", max_turns), ("max_text", max_text)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self._clock = clock
        self._origin = clock()
        self._max_turns = max_turns
        self._max_text = max_text
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque()
        self._dropped = 0
        self._agents: dict[str, _AgentDraft] = {}
        self._open_agents: dict[str, _AgentDraft] = {}
        # The agent turn whose audio is arriving: its next chunks (all but the
        # final one) only add to its length, 50 times a second.
        self._playing: _AgentDraft | None = None
        self._tools: dict[str, _ToolDraft] = {}
        self._last_user: _UserDraft | None = None
        self._speaking: _UserDraft | None = None
        self._waiting: _UserDraft | None = None
        self._awaiting_reply: _UserDraft | None = None
        self._stops = 0
        self._answered = 0
        self._response_samples: deque[float] = deque(maxlen=max_turns)
        self._transcript_samples: deque[float] = deque(maxlen=max_turns)
        self._input_bytes = 0

    # -- reading ---------------------------------------------------------------------

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The turns kept so far, oldest first (a snapshot)."""
        with self._lock:
            return tuple(
                entry if isinstance(entry, InterruptionTurn) else entry.freeze()
                for entry in self._entries
            )

    @property
    def user_turns(self) -> tuple[UserTurn, ...]:
        """The user's turns kept so far."""
        return tuple(turn for turn in self.turns if isinstance(turn, UserTurn))

    @property
    def agent_turns(self) -> tuple[AgentTurn, ...]:
        """The agent's turns kept so far."""
        return tuple(turn for turn in self.turns if isinstance(turn, AgentTurn))

    @property
    def tool_calls(self) -> tuple[ToolCallTurn, ...]:
        """The tool calls kept so far."""
        return tuple(turn for turn in self.turns if isinstance(turn, ToolCallTurn))

    @property
    def interruptions(self) -> tuple[InterruptionTurn, ...]:
        """The interruptions kept so far."""
        return tuple(turn for turn in self.turns if isinstance(turn, InterruptionTurn))

    @property
    def latency(self) -> TurnLatency:
        """Response and transcript latency over the session (the last ``max_turns`` of each)."""
        with self._lock:
            return TurnLatency(
                response=LatencySummary.of(self._response_samples),
                transcript=LatencySummary.of(self._transcript_samples),
                unanswered=self._stops - self._answered,
            )

    @property
    def dropped_turns(self) -> int:
        """Turns no longer kept because more than ``max_turns`` came after them."""
        return self._dropped

    @property
    def input_audio_seconds(self) -> float:
        """Seconds of input audio sent to the agent (PCM16, mono, 24 kHz)."""
        return self._input_bytes / _AUDIO_BYTES_PER_SECOND

    def format(self) -> str:
        """One line per turn: ``user: …``, ``agent: …``, ``tool name(args) -> output``."""
        return "\n".join(_line(turn) for turn in self.turns)

    __str__ = format

    def to_dict(self) -> dict[str, Any]:
        """The turns and latency as JSON-ready data."""
        return {
            "turns": [_turn_dict(turn) for turn in self.turns],
            "latency": self.latency.to_dict(),
            "dropped_turns": self.dropped_turns,
        }

    def __len__(self) -> int:
        """How many turns are kept."""
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Transcript turns={len(self._entries)} dropped={self._dropped}>"

    # -- hooks -----------------------------------------------------------------------

    # Called by the connection for every event it delivers, in order.
    def _on_event(self, event: Event) -> None:
        if type(event) is ResponseAudio and not event.is_final:
            playing = self._playing
            if playing is not None and playing.key == event.turn_id:
                # The hot path, without the lock: agent turns are only ever
                # changed from the receiving thread (the lock is for tool outputs
                # from worker threads, and for readers, who see the length
                # before or after this chunk). _base64_bytes, inlined.
                audio = event.audio
                size = len(audio) // 4 * 3
                if audio[-1:] == "=":
                    size -= 1 + (audio[-2:-1] == "=")
                if size > 0:
                    playing.audio_bytes += size
                return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            with self._lock:
                handler(self, event)

    # Called by the connection once a tool call's output has been sent.
    def _on_tool_output(self, tool_call_id: str, output: str) -> None:
        with self._lock:
            draft = self._tools.get(_key(tool_call_id))
            if draft is None or draft.output is not None:
                return  # unknown, forgotten, or answered already
            draft.output = _cut(output, self._max_text)
            draft.answered_at = self._now()

    # Called by the connection once a chunk of input audio (PCM bytes) has been sent.
    def _on_input_audio(self, pcm_bytes: int) -> None:
        with self._lock:
            self._input_bytes += pcm_bytes

    # -- assembling (under the lock) ----------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._origin

    def _append(self, entry: _Entry) -> None:
        self._entries.append(entry)
        if len(self._entries) > self._max_turns:
            self._forget(self._entries.popleft())

    def _forget(self, entry: _Entry) -> None:
        self._dropped += 1
        if isinstance(entry, _AgentDraft):
            if self._agents.get(entry.key) is entry:
                del self._agents[entry.key]
            if self._open_agents.get(entry.key) is entry:
                del self._open_agents[entry.key]
            if self._playing is entry:
                self._playing = None
        elif isinstance(entry, _ToolDraft) and self._tools.get(entry.key) is entry:
            del self._tools[entry.key]

    def _agent(self, turn_id: str) -> _AgentDraft:
        key = _key(turn_id)
        draft = self._agents.get(key)
        if draft is None:
            draft = _AgentDraft(key, _cut(turn_id, 200), self._now(), self._stops)
            self._agents[key] = draft
            self._open_agents[key] = draft
            self._append(draft)
        return draft

    def _audio(self, event: ResponseAudio) -> None:
        draft = self._agent(event.turn_id)
        draft.audio_bytes += _base64_bytes(event.audio)
        if draft.first_audio_at is None:
            draft.first_audio_at = now = self._now()
            waiting = self._awaiting_reply
            stopped = None if waiting is None else waiting.stopped_at
            if waiting is not None and stopped is not None and draft.after_stops == self._stops:
                # The first sound of a turn that began after the user's latest speech end.
                latency = now - stopped
                waiting.response_latency = draft.response_latency = latency
                self._response_samples.append(latency)
                self._answered += 1
                self._awaiting_reply = None
        if event.is_final:
            if self._playing is draft:
                self._playing = None
            if not draft.finished:
                draft.finished = True
                if self._open_agents.get(draft.key) is draft:
                    del self._open_agents[draft.key]
        else:
            self._playing = draft

    def _agent_text(self, event: ResponseText) -> None:
        draft = self._agent(event.turn_id)
        if not draft.final_text:
            draft.text = _cut(event.text, self._max_text)
            draft.final_text = event.is_final

    def _speech_started(self, event: SpeechStarted) -> None:
        if self._speaking is None:
            self._speaking = _UserDraft(self._now())

    def _speech_stopped(self, event: SpeechStopped) -> None:
        draft = self._speaking or _UserDraft()
        self._speaking = None
        draft.stopped_at = self._now()
        if draft.text is None:
            # An older speech end still without a transcript was noise the
            # speech-to-text dropped: the next transcript is of this one.
            self._waiting = draft
        # A speech end still unanswered is superseded: the reply answers the latest.
        self._awaiting_reply = draft
        self._stops += 1

    def _user_text(self, event: InputAudioTranscript) -> None:
        if not event.is_final:
            return
        now = self._now()
        text = _cut(event.transcript, self._max_text)
        last = self._last_user
        if last is not None and event.turn_id is not None and last.turn_id == event.turn_id:
            last.text = text  # a refined final transcript of the same turn
            return
        if self._waiting is not None:
            draft, self._waiting = self._waiting, None
        elif self._speaking is not None and self._speaking.text is None:
            draft = self._speaking  # heard before the speech end came
        else:
            draft = _UserDraft()
        draft.text = text
        draft.turn_id = None if event.turn_id is None else _cut(event.turn_id, 200)
        draft.at = now
        if draft.stopped_at is not None:
            self._transcript_samples.append(now - draft.stopped_at)
        self._last_user = draft
        self._append(draft)

    def _interruption(self, event: Interruption) -> None:
        cut = tuple(draft.turn_id for draft in self._open_agents.values())
        for draft in self._open_agents.values():
            draft.interrupted = True
        self._open_agents.clear()
        self._append(InterruptionTurn(self._now(), cut))

    def _tool_call(self, event: ToolCall) -> None:
        key = _key(event.tool_call_id)
        if key in self._tools:
            return  # a duplicate: the runtime does not run it again either
        draft = _ToolDraft(
            key,
            _cut(event.tool_call_id, 200),
            _cut(event.tool_name, 200),
            _bounded_arguments(event.kwargs, self._max_text),
            self._now(),
        )
        self._tools[key] = draft
        self._append(draft)


# -- text forms --------------------------------------------------------------------------


def format_call(name: str, arguments: Mapping[str, Any]) -> str:
    """``name(arg=value, …)`` with JSON values."""
    args = ", ".join(
        f"{key}={json.dumps(value, ensure_ascii=False, default=repr)}"
        for key, value in arguments.items()
    )
    return f"{name}({args})"


def _line(turn: Turn) -> str:
    if isinstance(turn, UserTurn):
        return f"user: {turn.text}"
    if isinstance(turn, AgentTurn):
        return f"agent: {turn.text}" + (" [interrupted]" if turn.interrupted else "")
    if isinstance(turn, ToolCallTurn):
        output = "(no output)" if turn.output is None else turn.output
        return f"tool {format_call(turn.name, turn.arguments)} -> {output}"
    return "(interrupted)"


def _turn_dict(turn: Turn) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": turn.kind}
    for item in fields(turn):
        value = getattr(turn, item.name)
        data[item.name] = list(value) if isinstance(value, tuple) else value
    if isinstance(turn, ToolCallTurn):
        data["arguments"] = dict(turn.arguments)
        data["duration"] = turn.duration
    return data


# What each event does to a transcript; one table for all of them (a bound
# method per transcript would cost every connection some memory).
_HANDLERS: dict[type, Callable[[Transcript, Any], None]] = {
    ResponseAudio: Transcript._audio,
    ResponseText: Transcript._agent_text,
    InputAudioTranscript: Transcript._user_text,
    SpeechStarted: Transcript._speech_started,
    SpeechStopped: Transcript._speech_stopped,
    Interruption: Transcript._interruption,
    ToolCall: Transcript._tool_call,
}
