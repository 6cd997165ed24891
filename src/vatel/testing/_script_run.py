"""Plays a :class:`~vatel.testing.Script` inside one voice session.

The runner is the session's reply task: it drives the voice agent through the
few operations of :class:`ScriptedAgent` and waits on what the agent reports
from the client (audio, tool outputs, the end of a turn) through
:meth:`ScriptRun.notify`. Waits for the app run on the server loop's own
clock, since they wait for real I/O; ``wait()`` steps sleep on the server's
``sleep``, like the pacing of the agent's audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from vatel.audio import SAMPLE_RATE, SAMPLE_WIDTH

from ._records import MockSession
from ._script import (
    SCRIPT_FAILED_CLOSE_CODE,
    CallerSays,
    CallTool,
    End,
    ExpectAudio,
    ExpectToolOutput,
    Interrupt,
    Listen,
    Say,
    Script,
    Step,
    Wait,
    brief,
)

logger = logging.getLogger("vatel.testing")

_AUDIO_BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH  # mono


class ScriptedAgent(Protocol):
    """What a script needs of the voice agent it plays."""

    session: MockSession

    @property
    def heard_audio_bytes(self) -> int: ...
    @property
    def heard_turns(self) -> int: ...
    @property
    def hears_speech(self) -> bool: ...
    async def say(self, text: str) -> bool: ...
    async def send(self, kind: str, data: dict[str, Any]) -> bool: ...
    async def caller_turn(self, text: str) -> bool: ...
    async def call_tool(
        self, name: str, arguments: list[dict[str, Any]]
    ) -> tuple[bool, asyncio.Future[str]]: ...
    async def pause(self, seconds: float) -> None: ...
    def request_end(self, code: int = 1000, reason: str = "", *, announce: bool = True) -> None: ...


@dataclass
class _PendingCall:
    step: CallTool
    output: asyncio.Future[str]


class ScriptRun:
    """One script playing in one session; :meth:`run` is the session's reply task."""

    def __init__(self, script: Script, agent: ScriptedAgent) -> None:
        self.script = script
        self._agent = agent
        self._activity = asyncio.Event()
        self._calls: deque[_PendingCall] = deque()
        self._audio_taken = 0
        self._turns_taken = 0
        script._begin(agent.session)

    def notify(self) -> None:
        """The client did something a waiting step may be looking for."""
        self._activity.set()

    async def run(self) -> None:
        script = self.script
        for index, step in enumerate(script.steps):
            try:
                going = await self._play(index, step)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.exception("voice session %s: script step failed", self._agent.session.id)
                self._fail(index, "could not run:", [f"the mock raised {exc!r}"])
                return
            if not going:
                return
            script._advance(index + 1)
        script._pass()

    def session_closed(self, code: int | None, by_server: bool) -> None:
        """The session ended; a script still running fails there."""
        who = "the server" if by_server else "the app"
        self.script._fail(
            self.script.position,
            "did not finish:",
            [f"the session closed first (code {code}, closed by {who})."],
        )

    def _fail(self, index: int, headline: str, details: list[str]) -> None:
        step = self.script.steps[index]
        if self.script._fail(index, headline, details) is None:
            return
        logger.info("voice session %s: script failed at %r", self._agent.session.id, step)
        self._agent.request_end(
            SCRIPT_FAILED_CLOSE_CODE, f"script step {index + 1} failed: {step.kind}", announce=False
        )

    async def _until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()``, at most ``timeout`` seconds; whether it is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # No await between the check and the clear: notify() runs on this loop.
            self._activity.clear()
            try:
                await asyncio.wait_for(self._activity.wait(), remaining)
            except asyncio.TimeoutError:
                return ready()
        return True

    async def _play(self, index: int, step: Step) -> bool:
        """Run one step; whether the script goes on (a step cut short by the end
        of the session, or a failed one, stops it)."""
        agent = self._agent
        if isinstance(step, Say):
            return await agent.say(step.text)
        if isinstance(step, CallTool):
            sent, output = await agent.call_tool(step.name, step.wire_arguments())
            self._calls.append(_PendingCall(step, output))
            return sent
        if isinstance(step, ExpectToolOutput):
            return await self._expect_output(index, step)
        if isinstance(step, ExpectAudio):
            return await self._expect_audio(index, step)
        if isinstance(step, Listen):
            return await self._listen(index, step)
        if isinstance(step, CallerSays):
            return await agent.caller_turn(step.text)
        if isinstance(step, Interrupt):
            started = await agent.send("speech_started", {"emulated": False})
            return await agent.send("interruption", {}) and started
        if isinstance(step, Wait):
            await agent.pause(step.seconds)
            return True
        if isinstance(step, End):
            self.script._pass()
            agent.request_end(1000)
            return False
        raise AssertionError(f"unknown step {step!r}")  # pragma: no cover - steps are checked

    async def _expect_output(self, index: int, step: ExpectToolOutput) -> bool:
        call = self._calls.popleft()  # the script was checked to have one
        timeout = step.timeout or self.script.timeout
        wanted = f"expected: {step.wanted()} for {call.step!r}"
        if not await self._until(call.output.done, timeout):
            self._fail(index, "failed:", [wanted, f"the app sent: nothing within {timeout} s"])
            return False
        output = call.output.result()
        problem = step.problem(output)
        if problem is not None:
            sent = f"the app sent: {brief(output)} ({problem})"
            self._fail(index, "failed:", [wanted, sent])
            return False
        return True

    async def _expect_audio(self, index: int, step: ExpectAudio) -> bool:
        agent = self._agent
        timeout = step.timeout or self.script.timeout
        if step.seconds is None:
            need = self._audio_taken + 1
            wanted = "expected: some audio from the app"
        else:
            need = self._audio_taken + round(step.seconds * _AUDIO_BYTES_PER_SECOND)
            wanted = f"expected: {step.seconds} s more of audio from the app"
        if not await self._until(lambda: agent.heard_audio_bytes >= need, timeout):
            got = (agent.heard_audio_bytes - self._audio_taken) / _AUDIO_BYTES_PER_SECOND
            self._fail(
                index, "failed:", [wanted, f"the app sent: {got:.2f} s of audio within {timeout} s"]
            )
            return False
        self._audio_taken = need if step.seconds is not None else agent.heard_audio_bytes
        return True

    async def _listen(self, index: int, step: Listen) -> bool:
        agent = self._agent
        timeout = step.timeout or self.script.timeout
        if not await self._until(lambda: agent.heard_turns > self._turns_taken, timeout):
            heard = agent.heard_audio_bytes / _AUDIO_BYTES_PER_SECOND
            speech = "speech still going on" if agent.hears_speech else "no speech under way"
            self._fail(
                index,
                "failed:",
                [
                    "expected: a turn of speech from the app (speech, then silence)",
                    f"the app sent: no finished turn within {timeout} s "
                    f"({heard:.2f} s of audio in all, {speech})",
                ],
            )
            return False
        self._turns_taken += 1
        return True
