"""One voice session driven from the terminal.

Audio goes in (a WAV file paced like live speech, or the microphone), the
transcript comes out line by line, the agent's audio is saved and played, tool
calls are answered, and the session is closed once the conversation is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._events import (
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
)
from .._exceptions import ConnectionClosedError, ProtocolError, SessionEndedError
from .._tools import ToolRouter
from ._output import stdout_console

if TYPE_CHECKING:
    from .._async_connection import AsyncConnection
    from .._client import AsyncClient
    from ..audio import Speaker, WavWriter

__all__ = [
    "DEFAULT_LINGER",
    "SessionReport",
    "ToolExchange",
    "Transcript",
    "converse",
    "file_source",
    "format_call",
    "summary_json",
]

log = logging.getLogger("vatel.cli")

DEFAULT_LINGER = 1.5
"""Seconds of quiet after the agent's last turn before the session is closed."""

GREETING_TIMEOUT = 15.0
"""Longest wait for the agent's opening line before the user starts speaking anyway."""

REPLY_TIMEOUT = 20.0
"""Seconds without any event, while a reply is still due, before giving up on it."""

_POLL = 0.05


@dataclass
class ToolExchange:
    """One tool call and the output sent back."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    output: str | None = None
    seconds: float | None = None
    """How long the handler took."""


@dataclass
class SessionReport:
    """What happened in a session."""

    session_id: str | None = None
    events: Counter[str] = field(default_factory=Counter)
    tools: list[ToolExchange] = field(default_factory=list)
    user_lines: list[str] = field(default_factory=list)
    agent_lines: list[str] = field(default_factory=list)
    agent_audio_bytes: int = 0
    input_bytes: int = 0
    interruptions: int = 0
    ended_by_server: bool = False

    @property
    def agent_audio_seconds(self) -> float:
        """Seconds of agent audio received."""
        from ..audio import BYTES_PER_SECOND

        return self.agent_audio_bytes / BYTES_PER_SECOND


def format_call(name: str, arguments: dict[str, Any]) -> str:
    """``name(arg=value, …)`` with JSON values."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"{name}({args})"


_STYLES = {
    "session_started": ("Session started", "dim"),
    "user": ("User:", "bold cyan"),
    "agent": ("Agent:", "bold green"),
    "tool_call": ("Tool call:", "bold yellow"),
    "tool_output": ("Tool output:", "yellow"),
    "interruption": ("[interrupted]", "bold red"),
    "session_ended": ("Session ended by the agent", "dim"),
    "session_closed": ("Session closed", "dim"),
    "note": ("Note:", "dim"),
}


class Transcript:
    """Prints transcript lines as they happen: styled text, or JSON lines."""

    def __init__(self, *, json_lines: bool = False) -> None:
        self.json_lines = json_lines
        self._console = None if json_lines else stdout_console()

    def show_json(self, data: dict[str, Any]) -> None:
        """Print one JSON object as a line."""
        print(json.dumps(data, ensure_ascii=False), flush=True)

    def show(self, kind: str, text: str = "", **extra: Any) -> None:
        """Print one line of kind ``kind`` (a key of the styles table)."""
        if self._console is None:
            self.show_json({"type": kind, "text": text, **extra})
            return
        from rich.text import Text

        label, style = _STYLES[kind]
        line = Text(label, style=style)
        if text:
            line.append(" ")
            line.append(text, style="dim" if style == "dim" else "")
        self._console.print(line, soft_wrap=True)


class _Conversation:
    """Follows the events of one session and decides when it is over."""

    def __init__(
        self,
        transcript: Transcript,
        wav: WavWriter | None,
        speaker: Speaker | None,
    ) -> None:
        self.report = SessionReport()
        self.started = asyncio.Event()
        self.greeted = asyncio.Event()
        self.last_event = time.monotonic()
        self._transcript = transcript
        self._wav = wav
        self._speaker = speaker
        self._seen_turns: set[str] = set()
        self._open_turns: set[str] = set()
        self._cut_turns: set[str] = set()
        # Replies still due: a snapshot of the agent turns seen when each became
        # due, so only a turn that started later can settle it.
        self._due: dict[str, frozenset[str]] = {}
        self._tools: dict[str, ToolExchange] = {}
        self._pending_tools = 0

    # -- events ---------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        self.last_event = time.monotonic()
        self.report.events[event.type] += 1
        if isinstance(event, ResponseAudio):
            self._on_audio(event)
        elif isinstance(event, ResponseText):
            self._seen_turns.add(event.turn_id)
            if event.is_final:
                self.report.agent_lines.append(event.text)
                self._transcript.show("agent", event.text, turn_id=event.turn_id)
        elif isinstance(event, InputAudioTranscript):
            if event.is_final:
                self.report.user_lines.append(event.transcript)
                self._transcript.show("user", event.transcript, turn_id=event.turn_id)
            self._expect("user")
        elif isinstance(event, (SpeechStarted, SpeechStopped)):
            self._expect("user")
        elif isinstance(event, Interruption):
            self._on_interruption()
        elif isinstance(event, ToolCall):
            self._on_tool_call(event)
        elif isinstance(event, SessionStarted):
            self.report.session_id = event.id
            self._transcript.show("session_started", event.id, id=event.id)
            self.started.set()
        elif isinstance(event, SessionEnded):
            self.report.ended_by_server = True
            self._transcript.show("session_ended")
        else:
            log.debug("Ignoring event %r", event)

    def _on_audio(self, event: ResponseAudio) -> None:
        turn = event.turn_id
        self._seen_turns.add(turn)
        try:
            pcm = event.pcm
        except ProtocolError as exc:
            log.warning("Skipping an agent audio chunk: %s", exc)
            pcm = b""
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        if pcm:
            self.report.agent_audio_bytes += len(pcm)
            if self._wav is not None:
                self._wav.write(pcm)
            if self._speaker is not None:
                self._speaker.play(pcm)
        if event.is_final:
            self._open_turns.discard(turn)
            self.greeted.set()
            self._due = {k: seen for k, seen in self._due.items() if turn in seen}
        elif turn not in self._cut_turns:
            self._open_turns.add(turn)

    def _on_interruption(self) -> None:
        self.report.interruptions += 1
        self._transcript.show("interruption")
        if self._speaker is not None:
            self._speaker.flush()
        # An interrupted turn may never send its final chunk.
        self._cut_turns |= self._open_turns
        self._open_turns.clear()
        self.greeted.set()

    def _on_tool_call(self, call: ToolCall) -> None:
        exchange = ToolExchange(call.tool_call_id, call.tool_name, call.kwargs)
        self._tools[call.tool_call_id] = exchange
        self.report.tools.append(exchange)
        self._pending_tools += 1
        self._transcript.show(
            "tool_call",
            format_call(call.tool_name, call.kwargs),
            tool_call_id=call.tool_call_id,
            name=call.tool_name,
            arguments=call.kwargs,
        )

    def tool_answered(self, call: ToolCall, output: str, seconds: float) -> None:
        """Record the output about to be sent for ``call``."""
        exchange = self._tools.get(call.tool_call_id)
        if exchange is not None:
            exchange.output = output
            exchange.seconds = seconds
        self._pending_tools = max(0, self._pending_tools - 1)
        self._expect(f"tool:{call.tool_call_id}")
        self._transcript.show("tool_output", output, tool_call_id=call.tool_call_id)

    def closed(self) -> None:
        """Report that this side closed the session."""
        self._transcript.show("session_closed")

    def note(self, text: str) -> None:
        """Print a remark that is not part of the conversation."""
        self._transcript.show("note", text)

    def _expect(self, reason: str) -> None:
        if reason not in self._due:
            self._due[reason] = frozenset(self._seen_turns)

    # -- ending -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the agent is speaking, a reply is due, or a tool is running."""
        return bool(self._open_turns or self._due or self._pending_tools)


class _ObservedTools(ToolRouter):
    """Answers tool calls with another router and reports each output."""

    def __init__(self, inner: ToolRouter, conversation: _Conversation) -> None:
        super().__init__()
        self._inner = inner
        self._conversation = conversation

    async def acall(self, call: ToolCall) -> str:
        started = time.monotonic()
        output = await self._inner.acall(call)
        self._conversation.tool_answered(call, output, time.monotonic() - started)
        return output


def file_source(pcm: bytes, *, tail: float, speed: float = 1.0) -> AsyncIterator[bytes]:
    """``pcm`` then ``tail`` seconds of silence, in 20 ms chunks at ``speed`` times real time
    (0: as fast as possible)."""
    from ..audio import apaced, chunks, silence

    return apaced(chunks(pcm + silence(tail)), speed=speed)


async def _drive(
    conn: AsyncConnection,
    conversation: _Conversation,
    source: AsyncIterator[bytes],
    *,
    wait_for_greeting: bool,
    linger: float,
) -> None:
    """Speak once the agent has greeted, then close the session once it is quiet."""
    await conversation.started.wait()
    if wait_for_greeting:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(conversation.greeted.wait(), GREETING_TIMEOUT)
    try:
        async for chunk in source:
            await conn.send_input_audio_bytes(chunk)
            conversation.report.input_bytes += len(chunk)
    except (ConnectionClosedError, SessionEndedError):
        return  # The session ended while we were talking; the receiver reports why.
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
    input_done = time.monotonic()
    while True:
        await asyncio.sleep(_POLL)
        idle = time.monotonic() - max(conversation.last_event, input_done)
        if not conversation.busy and idle >= linger:
            break
        if idle >= REPLY_TIMEOUT:
            conversation.note(
                f"nothing from the agent for {REPLY_TIMEOUT:g} s; ending the session."
            )
            break
    await conn.close()
    conversation.closed()


def summary_json(report: SessionReport, output: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The machine-readable summary of a session."""
    return {
        "type": "summary",
        "session_id": report.session_id,
        "events": dict(report.events),
        "tool_calls": [
            {
                "tool_call_id": t.call_id,
                "name": t.name,
                "arguments": t.arguments,
                "output": t.output,
            }
            for t in report.tools
        ],
        "interruptions": report.interruptions,
        "agent_audio_seconds": round(report.agent_audio_seconds, 3),
        "output": str(output) if output is not None else None,
        "ended_by_server": report.ended_by_server,
    }


async def converse(
    client: AsyncClient,
    agent_id: str,
    source: AsyncIterator[bytes],
    *,
    transcript: Transcript,
    tools: ToolRouter | None = None,
    version_id: str | None = None,
    wav: WavWriter | None = None,
    speaker: Speaker | None = None,
    wait_for_greeting: bool = False,
    linger: float = DEFAULT_LINGER,
) -> SessionReport:
    """Run one voice session with ``agent_id``, speaking the audio of ``source``.

    Tool calls are answered by ``tools`` (an unknown tool gets an error output,
    so the agent can go on). Returns when the server ends the session, or once
    ``source`` is exhausted, the agent has finished its last turn and ``linger``
    seconds passed without a new event.
    """
    token = await client.session_token(agent_id, version_id=version_id)
    conversation = _Conversation(transcript, wav, speaker)
    observed = _ObservedTools(tools if tools is not None else ToolRouter(), conversation)
    async with client.connect(token) as conn:
        receiving = asyncio.create_task(conn.run(tools=observed, on_event=conversation.on_event))
        driving = asyncio.create_task(
            _drive(
                conn,
                conversation,
                source,
                wait_for_greeting=wait_for_greeting,
                linger=linger,
            )
        )
        try:
            done, _ = await asyncio.wait({receiving, driving}, return_when=asyncio.FIRST_COMPLETED)
            if receiving in done:
                driving.cancel()
                await asyncio.gather(driving, return_exceptions=True)
                receiving.result()
            else:
                driving.result()
                await receiving
        finally:
            driving.cancel()
            await asyncio.gather(driving, return_exceptions=True)
            if not receiving.done():
                # Close while the receiver still reads: frames left unread would
                # stall the closing handshake until its time-out.
                with contextlib.suppress(Exception):
                    await conn.close()
            receiving.cancel()
            await asyncio.gather(receiving, return_exceptions=True)
    if speaker is not None:
        await speaker.adrain()
    return conversation.report
