"""One voice session driven from the terminal.

Audio goes in (a WAV file paced like live speech, or the microphone), the
transcript comes out line by line, the agent's audio is saved and played, tool
calls are answered, and the session is closed once the conversation is over.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from .._transcript import ToolCallTurn, Transcript, TurnLatency, format_call
from ._printer import Printer

if TYPE_CHECKING:
    from .._async_connection import AsyncConnection
    from .._client import AsyncClient
    from ..audio import Speaker, WavWriter

__all__ = [
    "DEFAULT_LINGER",
    "Printer",
    "TalkReport",
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
class TalkReport:
    """What happened in a session: the connection's transcript, and what the CLI counted."""

    transcript: Transcript
    session_id: str | None = None
    events: Counter[str] = field(default_factory=Counter)
    agent_audio_bytes: int = 0
    input_bytes: int = 0
    ended_by_server: bool = False

    @property
    def agent_audio_seconds(self) -> float:
        """Seconds of agent audio received."""
        from ..audio import BYTES_PER_SECOND

        return self.agent_audio_bytes / BYTES_PER_SECOND

    @property
    def tools(self) -> tuple[ToolCallTurn, ...]:
        """The tool calls and the outputs sent."""
        return self.transcript.tool_calls

    @property
    def interruptions(self) -> int:
        return len(self.transcript.interruptions)

    @property
    def latency(self) -> TurnLatency:
        """Response and transcript latency over the session."""
        return self.transcript.latency


class _Conversation:
    """Follows the events of one session and decides when it is over."""

    def __init__(
        self,
        printer: Printer,
        transcript: Transcript,
        wav: WavWriter | None,
        speaker: Speaker | None,
    ) -> None:
        self.report = TalkReport(transcript)
        self.started = asyncio.Event()
        self.greeted = asyncio.Event()
        self.last_event = time.monotonic()
        self._printer = printer
        self._wav = wav
        self._speaker = speaker
        self._seen_turns: set[str] = set()
        self._open_turns: set[str] = set()
        self._cut_turns: set[str] = set()
        # Replies still due: a snapshot of the agent turns seen when each became
        # due, so only a turn that started later can settle it.
        self._due: dict[str, frozenset[str]] = {}
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
                self._printer.show("agent", event.text, turn_id=event.turn_id)
        elif isinstance(event, InputAudioTranscript):
            if event.is_final:
                self._printer.show("user", event.transcript, turn_id=event.turn_id)
            self._expect("user")
        elif isinstance(event, (SpeechStarted, SpeechStopped)):
            self._expect("user")
        elif isinstance(event, Interruption):
            self._on_interruption()
        elif isinstance(event, ToolCall):
            self._on_tool_call(event)
        elif isinstance(event, SessionStarted):
            self.report.session_id = event.id
            self._printer.show("session_started", event.id, id=event.id)
            self.started.set()
        elif isinstance(event, SessionEnded):
            self.report.ended_by_server = True
            self._printer.show("session_ended")
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
        self._printer.show("interruption")
        if self._speaker is not None:
            self._speaker.flush()
        # An interrupted turn may never send its final chunk.
        self._cut_turns |= self._open_turns
        self._open_turns.clear()
        self.greeted.set()

    def _on_tool_call(self, call: ToolCall) -> None:
        self._pending_tools += 1
        self._printer.show(
            "tool_call",
            format_call(call.tool_name, call.kwargs),
            tool_call_id=call.tool_call_id,
            name=call.tool_name,
            arguments=call.kwargs,
        )

    def tool_answered(self, call: ToolCall, output: str) -> None:
        """Record the output about to be sent for ``call``."""
        self._pending_tools = max(0, self._pending_tools - 1)
        self._expect(f"tool:{call.tool_call_id}")
        self._printer.show("tool_output", output, tool_call_id=call.tool_call_id)

    def input_sent(self, pcm_bytes: int) -> None:
        """Count a chunk of input audio sent."""
        self.report.input_bytes += pcm_bytes

    def closed(self) -> None:
        """Report that this side closed the session."""
        self._printer.show("session_closed")

    def note(self, text: str) -> None:
        """Print a remark that is not part of the conversation."""
        self._printer.show("note", text)

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
        output = await self._inner.acall(call)
        self._conversation.tool_answered(call, output)
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
            conversation.input_sent(len(chunk))
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


def summary_json(report: TalkReport, output: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The machine-readable summary of a session."""
    return {
        "type": "summary",
        "session_id": report.session_id,
        "events": dict(report.events),
        "tool_calls": [
            {
                "tool_call_id": t.tool_call_id,
                "name": t.name,
                "arguments": dict(t.arguments),
                "output": t.output,
            }
            for t in report.tools
        ],
        "interruptions": report.interruptions,
        "agent_audio_seconds": round(report.agent_audio_seconds, 3),
        "latency": report.latency.to_dict(),
        "output": str(output) if output is not None else None,
        "ended_by_server": report.ended_by_server,
    }


async def converse(
    client: AsyncClient,
    agent_id: str,
    source: AsyncIterator[bytes],
    *,
    printer: Printer,
    tools: ToolRouter | None = None,
    version_id: str | None = None,
    wav: WavWriter | None = None,
    speaker: Speaker | None = None,
    wait_for_greeting: bool = False,
    linger: float = DEFAULT_LINGER,
) -> TalkReport:
    """Run one voice session with ``agent_id``, speaking the audio of ``source``.

    Tool calls are answered by ``tools`` (an unknown tool gets an error output,
    so the agent can go on). Returns when the server ends the session, or once
    ``source`` is exhausted, the agent has finished its last turn and ``linger``
    seconds passed without a new event.
    """
    token = await client.session_token(agent_id, version_id=version_id)
    async with client.connect(token) as conn:
        conversation = _Conversation(printer, conn.transcript, wav, speaker)
        observed = _ObservedTools(tools if tools is not None else ToolRouter(), conversation)
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
