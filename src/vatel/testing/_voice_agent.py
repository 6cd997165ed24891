"""The deterministic voice agent on the other end of one WebSocket session.

One task reads the client's frames and runs voice detection; the agent's
replies run in a second task so that the caller can interrupt them. A close
from the server's side stops the reader first, so that the close handshake
itself reads the client's close frame before the TCP connection is closed: a
socket closed with client data still unread answers that data with a reset,
and a reset makes the client's kernel drop the server's close frame unread
(the client then sees 1006 instead of the code the server sent). Timing
(end of turn when the caller's audio stops arriving, idle timeout) is driven
by the reader's receive timeout, so there are no timers to cancel.

Client frames that are not valid client messages are recorded with an
``error`` and otherwise ignored: the session never closes because of them.

A session that took a script (see :mod:`._script`) plays it as its reply task
instead of greeting and answering turns; voice detection then only reports the
caller's speech, and tells the script about it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from . import _sounds
from ._faults import SessionFault
from ._http import parse_json
from ._records import Message, MockSession, ToolOutput
from ._script import Script
from ._script_run import ScriptRun
from ._state import State
from ._util import rfc3339, utcnow
from ._vad import EnergyVad, SpeechStarted, SpeechStopped

logger = logging.getLogger("vatel.testing")

FRAME_SECONDS = 0.02
THINK_SECONDS = 0.3
"""Pause before the agent answers, at ``pace=1`` (none at ``pace=0``)."""


INTERIM_TRANSCRIPT = "I said something"
REPLIES = (
    "Got it. You spoke for {seconds:.1f} seconds.",
    "Thanks, I heard {seconds:.1f} seconds of speech. What else can I do for you?",
    "Understood. That was {seconds:.1f} seconds.",
)
_RAW_LIMIT = 256

_MALFORMED_FRAMES: dict[str, str | bytes] = {
    "non_json": "this is not JSON {",
    "not_object": '["response_text", {"text": "a list, not an object"}]',
    "missing_type": '{"data": {"text": "no type"}}',
    "wrong_data": '{"type": "response_audio", "data": {"turn_id": 7, "is_final": "yes"}}',
    "unknown_type": '{"type": "agent_mood", "data": {"mood": "cheerful"}}',
    "binary": b"\x00\x01binary frame\xff",
}


def _decode_audio(audio: object) -> bytes | str:
    """The PCM in an ``input_audio`` message's ``audio``, or why there is none."""
    if not isinstance(audio, str):
        return "data.audio must be a base64 string"
    try:
        pcm = base64.b64decode(audio, validate=True)
    except binascii.Error:
        return "data.audio is not valid base64"
    if len(pcm) % 2:
        return "data.audio has an odd byte count (PCM16 samples are 2 bytes)"
    return pcm


def transcript_text(seconds: float) -> str:
    """What the mock "hears" in a turn of ``seconds`` of speech."""
    return f"I said something for {seconds:.1f} seconds."


class VoiceAgent:
    """Plays the agent for one accepted WebSocket; :meth:`run` returns when it closes."""

    def __init__(
        self,
        *,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        session: MockSession,
        state: State,
        pace: float,
        idle_timeout: float | None,
        vad: EnergyVad,
        stop_secs: float,
        faults: list[SessionFault],
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        script: Script | None = None,
    ) -> None:
        self.session = session
        self.finished = asyncio.Event()
        self._ws = ws
        self._transport = request.transport
        self._state = state
        self._pace = pace
        self._idle = idle_timeout
        self._vad = vad
        self._stop_secs = stop_secs
        self._faults = deque(faults)
        self._loop = asyncio.get_running_loop()
        # Pacing only: the turn and idle timers run on the loop's receive
        # timeouts, hence on the loop's clock.
        self._clock = clock or self._loop.time
        self._sleep = sleep or asyncio.sleep
        now = self._loop.time()
        self._last_audio = now
        self._last_activity = now
        self._turns = 0
        self._user_turns = 0
        self._chunks_sent = 0
        self._reader: asyncio.Task[None] | None = None
        self._reply: asyncio.Task[object] | None = None
        self._reply_audio = False
        self._waiting_tool = False
        self._tool_waits: dict[str, asyncio.Future[str]] = {}
        self._called_tools: set[str] = set()
        self._closer: asyncio.Task[None] | None = None
        self._close_code: int | None = None
        self._muted = False
        self._dropped = False
        self._ignore_pings = False
        self._entries: list[dict[str, Any]] = []
        self._script = ScriptRun(script, self) if script is not None else None

    # Lifecycle

    async def run(self) -> None:
        try:
            await self._send("session_started", {"id": self.session.id})
            await self._fire_faults()
            if self._script is not None:
                if not self._muted:
                    self._start_reply(self._script.run())
            elif self.session.first_message and not self._muted:
                self._start_reply(self._say(self.session.first_message))
            reader = self._reader = self._loop.create_task(self._read())
            # Waited for, not awaited: a close cancels the reader, and that
            # cancellation must not end the handler.
            await asyncio.wait([reader])
            if not reader.cancelled():
                reader.result()  # a reader failure, for the handler to log
        finally:
            await self._finish()

    def request_end(self, code: int = 1000, reason: str = "", *, announce: bool = True) -> None:
        """Close the session from the server side (``session_ended`` first when ``announce``).

        Safe to call more than once and from any task of the server's loop.
        """
        if self._closer is not None or self._dropped or self.finished.is_set():
            return
        self._muted = True
        self._closer = self._loop.create_task(self._close(code, reason, announce))

    async def _close(self, code: int, reason: str, announce: bool) -> None:
        await self._stop_reply()
        if announce:
            await self._write("session_ended", {})
        self._close_code = code
        await self._stop_reading()
        with contextlib.suppress(ConnectionError, RuntimeError):
            # With nobody else reading, close() reads on until the client's
            # close frame (or CLOSE_TIMEOUT) before it closes the connection.
            await self._ws.close(code=code, message=reason.encode())

    async def _stop_reading(self) -> None:
        """End the reader task, so that it is not parked in ``receive()`` when
        the close handshake starts.

        aiohttp's ``close()`` called while another task waits in ``receive()``
        wakes that task and closes the transport at once, without reading the
        client's close frame. Cancelling the reader loses no frame: aiohttp
        keeps a frame queued until a read returns it.
        """
        reader = self._reader
        if reader is None or reader is asyncio.current_task():
            return
        if not reader.done() and not self._ws.closed:
            # Once the connection is closed the reader is finishing a close the
            # client started: let it finish rather than cut it short.
            reader.cancel()
        await asyncio.wait([reader])

    def _drop(self) -> None:
        self._muted = True
        self._dropped = True
        if self._transport is not None:
            self._transport.abort()

    async def _finish(self) -> None:
        self._muted = True
        try:
            if self._closer is not None:
                await asyncio.wait([self._closer])
            await self._stop_reply()
            await self._stop_reading()
            if not self._ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._ws.close()
        finally:
            # Even when cancelled (a server stopping hard), the record must end.
            self._record_end()

    def _record_end(self) -> None:
        if self._dropped:
            code: int | None = 1006
        elif self._close_code is not None:
            code = self._close_code
        else:
            code = self._ws.close_code
        self.session.close_code = code
        by_server = self._dropped or self._close_code is not None
        self._state.finish_call(
            self.session.id,
            reason="ended_by_agent" if by_server else "ended_by_user",
            entries=self._entries,
        )
        logger.info("voice session %s closed (%s)", self.session.id, code)
        if self._script is not None:
            self._script.session_closed(code, by_server)
        self.session._closed.set()
        self.finished.set()

    # Reading

    def _wait_time(self) -> float | None:
        deadlines = []
        if self._vad.in_speech:
            deadlines.append(self._last_audio + self._stop_secs)
        if self._idle is not None and not self._muted:
            deadlines.append(self._last_activity + self._idle)
        if not deadlines:
            return None
        # aiohttp treats a zero timeout as "no timeout".
        return max(0.001, min(deadlines) - self._loop.time())

    async def _read(self) -> None:
        while True:
            try:
                msg = await self._ws.receive(timeout=self._wait_time())
            except asyncio.TimeoutError:
                await self._on_timer()
                continue
            if msg.type is WSMsgType.TEXT:
                await self._on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                self._reject(None, None, "binary frame", msg.data)
            elif msg.type is WSMsgType.PING:
                if not self._ignore_pings:
                    with contextlib.suppress(ConnectionError):
                        await self._ws.pong(msg.data)
            elif msg.type is not WSMsgType.PONG:
                return

    async def _on_timer(self) -> None:
        now = self._loop.time()
        if self._vad.in_speech and now - self._last_audio >= self._stop_secs:
            stopped = self._vad.flush()
            if stopped is not None:
                await self._on_speech_stopped(stopped)
        if self._idle is not None and not self._muted and now - self._last_activity >= self._idle:
            logger.info("voice session %s idle for %.1f s; ending it", self.session.id, self._idle)
            self.request_end(1000)

    def _reject(self, kind: str | None, data: Any, why: str, raw: str | bytes) -> None:
        self.session._received.append(Message(kind, data, error=why, raw=raw[:_RAW_LIMIT]))
        logger.info("voice session %s ignored a client frame: %s", self.session.id, why)

    async def _on_text(self, text: str) -> None:
        self._last_activity = self._loop.time()
        try:
            message = parse_json(text)
        except ValueError:
            self._reject(None, None, "not valid JSON", text)
            return
        if not isinstance(message, dict):
            self._reject(None, message, "not a JSON object", text)
            return
        kind, data = message.get("type"), message.get("data")
        if kind == "input_audio":
            await self._on_audio(data, text)
        elif kind == "tool_call_output":
            self._on_tool_output(data, text)
        elif isinstance(kind, str):
            self._reject(kind, data, "unknown message type", text)
        else:
            self._reject(None, data, "no string 'type'", text)

    async def _on_audio(self, data: Any, raw: str) -> None:
        audio = data.get("audio") if isinstance(data, dict) else None
        pcm = _decode_audio(audio)
        if isinstance(pcm, str):
            self._reject("input_audio", data, pcm, raw)
            return
        self.session._received.append(Message("input_audio", data))
        self.session._audio += pcm
        self._last_audio = self._last_activity
        for event in self._vad.feed(pcm):
            if isinstance(event, SpeechStarted):
                await self._on_speech_started()
            else:
                await self._on_speech_stopped(event)
        if self._script is not None:
            self._script.notify()

    def _on_tool_output(self, data: Any, raw: str) -> None:
        call_id = data.get("toolCallId") if isinstance(data, dict) else None
        output = data.get("output") if isinstance(data, dict) else None
        if not isinstance(call_id, str) or not isinstance(output, str):
            why = "data.toolCallId and data.output must be strings"
            self._reject("tool_call_output", data, why, raw)
            return
        self.session._received.append(Message("tool_call_output", data))
        waiter = self._tool_waits.get(call_id)
        known = waiter is not None and not waiter.done()
        self.session._tool_outputs.append(ToolOutput(call_id, output, known))
        if waiter is not None and known:
            waiter.set_result(output)
        else:
            logger.info("voice session %s ignored output for unknown tool call", self.session.id)
        if self._script is not None:
            self._script.notify()

    # Turn-taking

    async def _on_speech_started(self) -> None:
        await self._send("speech_started", {"emulated": False})
        if self._script is not None:
            return  # only the script interrupts itself
        reply = self._reply
        if reply is None or reply.done() or self._waiting_tool:
            return
        audible = self._reply_audio
        await self._stop_reply()
        if audible:
            await self._send("interruption", {})
            self._entry("interruption", role="")

    async def _on_speech_stopped(self, event: SpeechStopped) -> None:
        await self._send("speech_stopped", {})
        self._user_turns += 1
        turn_id = self._next_turn_id()
        text = transcript_text(event.duration)
        for partial, final in ((INTERIM_TRANSCRIPT, False), (text, True)):
            await self._send(
                "input_audio_transcript",
                {"transcript": partial, "turn_id": turn_id, "is_final": final},
            )
        self._entry(
            "message",
            role="user",
            message=text,
            turnId=turn_id,
            durationMs=round(event.duration * 1000),
        )
        if self._script is not None:
            self._script.notify()  # the script's listen() steps take this turn
            return
        if self._reply is not None and not self._reply.done():
            return  # still waiting for a tool's output; this turn gets no answer of its own
        self._start_reply(self._respond(event.duration, self._user_turns))

    def _start_reply(self, work: Coroutine[Any, Any, object]) -> None:
        self._reply_audio = False
        self._reply = self._loop.create_task(work)
        self._reply.add_done_callback(self._reply_done)

    def _reply_done(self, task: asyncio.Task[object]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "voice session %s: agent reply failed",
                self.session.id,
                exc_info=task.exception(),
            )

    async def _stop_reply(self) -> None:
        reply = self._reply
        if reply is not None and not reply.done() and reply is not asyncio.current_task():
            reply.cancel()
            await asyncio.wait([reply])

    def _next_turn_id(self) -> str:
        self._turns += 1
        return f"turn-{self._turns}"

    async def _respond(self, seconds: float, number: int) -> None:
        tool = self._next_tool()
        if tool is not None:
            name, output = await self._call_tool(tool)
            text = f"The {name} tool returned: {output}"
        else:
            text = REPLIES[(number - 1) % len(REPLIES)].format(seconds=seconds)
        if self._pace > 0:
            await self._sleep(THINK_SECONDS / self._pace)
        await self._say(text)

    def _next_tool(self) -> dict[str, Any] | None:
        for node in self._state.client_tools(self.session.agent_id, self.session.version_id):
            if node["id"] not in self._called_tools:
                return node
        return None

    async def _call_tool(self, node: dict[str, Any]) -> tuple[str, str]:
        self._called_tools.add(node["id"])
        data = node.get("data", {})
        name = str(data.get("tool_name") or node.get("name", "tool"))
        arguments = data.get("arguments", [])
        call_id = "call_" + uuid.uuid4().hex[:24]
        waiter: asyncio.Future[str] = self._loop.create_future()
        self._tool_waits[call_id] = waiter
        self._waiting_tool = True
        started = rfc3339(utcnow())
        try:
            await self._send(
                "tool_call", {"toolCallId": call_id, "toolName": name, "arguments": arguments}
            )
            output = await waiter
        finally:
            self._waiting_tool = False
            self._tool_waits.pop(call_id, None)
        self._tool_entries(call_id, name, arguments, output, started)
        return name, output

    def _tool_entries(
        self, call_id: str, name: str, arguments: list[dict[str, Any]], output: str, started: str
    ) -> None:
        call = {
            "callId": call_id,
            "toolName": name,
            "arguments": json.dumps({a["name"]: a.get("value") for a in arguments}),
            "output": output,
            "startedAt": started,
            "endedAt": rfc3339(utcnow()),
        }
        self._entry("tool_call", role="", toolCall=call)
        self._entry("tool_call_output", role="", toolCallOutput=output)

    async def _say(self, text: str) -> bool:
        """Say ``text`` as one turn; whether every frame of it went out."""
        turn_id = self._next_turn_id()
        words = text.split()
        sent = True
        for end in range(3, len(words), 3):
            partial = " ".join(words[:end])
            sent = (
                await self._send(
                    "response_text", {"turn_id": turn_id, "text": partial, "is_final": False}
                )
                and sent
            )
        final = {"turn_id": turn_id, "text": text, "is_final": True}
        sent = await self._send("response_text", final) and sent
        count = _sounds.chunks_for_text(text)
        self._entry(
            "message",
            role="assistant",
            message=text,
            turnId=turn_id,
            durationMs=round(count * FRAME_SECONDS * 1000),
        )
        return await self._play(turn_id, count) and sent

    async def _play(self, turn_id: str, count: int) -> bool:
        chunks = _sounds.agent_chunks()
        # Audio frames are assembled by hand: base64 needs no JSON escaping, and
        # encoding these 1.3 kB strings is most of a busy server's JSON work.
        head = '{"type":"response_audio","data":{"turn_id":' + json.dumps(turn_id) + ',"audio":"'
        step = FRAME_SECONDS / self._pace if self._pace > 0 else 0.0
        start = self._clock() if step else 0.0
        for i in range(count):
            if step:
                # Scheduled against the start, not the previous chunk, so delays never add up.
                delay = start + i * step - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            elif i % 16 == 15:
                await asyncio.sleep(0)  # let the reader in between bursts
            if self._muted:
                return False
            audio, final = chunks[i % len(chunks)], i == count - 1
            frame = head + audio + ('","is_final":true}}' if final else '","is_final":false}}')
            data = {"turn_id": turn_id, "audio": audio, "is_final": final}
            if not await self._write_raw(frame, Message("response_audio", data)):
                return False
            self._reply_audio = True
            self._chunks_sent += 1
            self._last_activity = self._loop.time()
            await self._fire_faults()
        return True

    # What a script drives (see _script_run.ScriptedAgent)

    @property
    def heard_audio_bytes(self) -> int:
        return len(self.session._audio)

    @property
    def heard_turns(self) -> int:
        return self._user_turns

    @property
    def hears_speech(self) -> bool:
        return self._vad.in_speech

    async def say(self, text: str) -> bool:
        return await self._say(text)

    async def send(self, kind: str, data: dict[str, Any]) -> bool:
        return await self._send(kind, data)

    async def caller_turn(self, text: str) -> bool:
        """Report a turn of the caller saying ``text``; whether it all went out."""
        sent = await self._send("speech_started", {"emulated": False})
        sent = await self._send("speech_stopped", {}) and sent
        turn_id = self._next_turn_id()
        words = text.split()
        for end in range(3, len(words), 3):
            partial = {"transcript": " ".join(words[:end]), "turn_id": turn_id, "is_final": False}
            sent = await self._send("input_audio_transcript", partial) and sent
        final = {"transcript": text, "turn_id": turn_id, "is_final": True}
        sent = await self._send("input_audio_transcript", final) and sent
        seconds = _sounds.chunks_for_text(text) * FRAME_SECONDS
        self._entry(
            "message", role="user", message=text, turnId=turn_id, durationMs=round(seconds * 1000)
        )
        return sent

    async def call_tool(
        self, name: str, arguments: list[dict[str, Any]]
    ) -> tuple[bool, asyncio.Future[str]]:
        """Send a ``tool_call``; whether it went out, and the future of its output."""
        call_id = "call_" + uuid.uuid4().hex[:24]
        output: asyncio.Future[str] = self._loop.create_future()
        self._tool_waits[call_id] = output
        started = rfc3339(utcnow())

        def record(done: asyncio.Future[str]) -> None:
            if not done.cancelled():
                self._tool_entries(call_id, name, arguments, done.result(), started)

        output.add_done_callback(record)
        data = {"toolCallId": call_id, "toolName": name, "arguments": arguments}
        return await self._send("tool_call", data), output

    async def pause(self, seconds: float) -> None:
        await self._sleep(seconds)

    def _entry(self, kind: str, **fields: Any) -> None:
        entry = {"index": len(self._entries), "type": kind, "createdAt": rfc3339(utcnow())}
        entry.update(fields)
        self._entries.append(entry)

    # Sending

    async def _send(self, kind: str, data: dict[str, Any]) -> bool:
        """Send one message unless the session is closing, dropped or silenced."""
        if self._muted:
            return False
        return await self._write(kind, data)

    async def _write(self, kind: str, data: dict[str, Any]) -> bool:
        frame = json.dumps({"type": kind, "data": data}, separators=(",", ":"))
        return await self._write_raw(frame, Message(kind, data))

    async def _write_raw(self, frame: str | bytes, record: Message) -> bool:
        try:
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            else:
                await self._ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            self._muted = True
            return False
        self.session._sent.append(record)
        return True

    # Faults

    async def _fire_faults(self) -> None:
        while self._faults and self._faults[0].after_chunks <= self._chunks_sent:
            await self._apply(self._faults.popleft())

    async def _apply(self, fault: SessionFault) -> None:
        logger.info("voice session %s: injecting fault %s", self.session.id, fault.action)
        if fault.action == "close":
            self.request_end(fault.code, fault.reason, announce=False)
        elif fault.action == "drop":
            self._drop()
        elif fault.action == "silence":
            self._muted = True
            self._ignore_pings = True
        elif fault.action == "ignore_pings":
            self._ignore_pings = True
        elif fault.action == "oversized":
            await self._send_oversized(fault.size)
        elif not self._muted:
            frame = _MALFORMED_FRAMES[fault.kind]
            raw = frame[:_RAW_LIMIT]
            await self._write_raw(
                frame, Message(None, None, error=f"injected {fault.kind}", raw=raw)
            )

    async def _send_oversized(self, size: int) -> None:
        if self._muted:
            return
        data = {"turn_id": "oversized", "text": "", "is_final": False}
        empty = json.dumps({"type": "response_text", "data": data}, separators=(",", ":"))
        data["text"] = "x" * (size - len(empty))
        frame = json.dumps({"type": "response_text", "data": data}, separators=(",", ":"))
        await self._write_raw(frame, Message("response_text", data, error="injected oversized"))
