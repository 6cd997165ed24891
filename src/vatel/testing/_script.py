"""Scripted agents: the test says exactly what the mock agent does in a session.

::

    script = server.script(agent_id, [
        say("Hi"),
        tool_call("get_weather", city="Paris"),
        expect_tool_output(contains="sunny"),
        say("It is sunny"),
        end(),
    ])
    ...                # the app opens a session for agent_id and runs it
    script.wait()      # raises ScriptError, with what the app sent, if a step failed

A script is taken by the next voice session opened for its agent (``None``:
for any agent); scripts queue up, first given first taken, and each runs once.
Its steps run one after the other, at the server's ``pace`` (``pace=0``: no
pacing sleeps at all). A scripted session does only what its script says: no
opening line, no answer of its own to the caller's turns, no client tools from
the agent's graph. Voice detection still reports the caller's speech
(``speech_started``, ``speech_stopped``, transcripts) but never interrupts the
script. Once the last step has run the agent stays silent until the session
ends.

A step that fails, and a session that ends before the script did, fail the
script with a :class:`ScriptError` naming the step, what it expected and what
the app sent. A failed step also ends the session at once: no
``session_ended``, close code :data:`SCRIPT_FAILED_CLOSE_CODE` (4000) with the
reason ``"script step N failed: KIND"``, which ``vatel`` raises as
``ConnectionClosedError``.

Nothing here does I/O; :mod:`._script_run` plays a script inside a session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import json
import math
import reprlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from vatel.audio import SAMPLE_RATE, SAMPLE_WIDTH

from ._records import Message, MockSession
from ._sounds import SECONDS_PER_CHARACTER

__all__ = [
    "DEFAULT_STEP_TIMEOUT",
    "SCRIPT_FAILED_CLOSE_CODE",
    "CallTool",
    "CallerSays",
    "End",
    "ExpectAudio",
    "ExpectToolOutput",
    "Interrupt",
    "Listen",
    "Say",
    "Script",
    "ScriptBook",
    "ScriptError",
    "Step",
    "Wait",
    "caller_says",
    "end",
    "expect_audio",
    "expect_tool_output",
    "interrupt",
    "listen",
    "say",
    "tool_call",
    "wait",
]

DEFAULT_STEP_TIMEOUT = 2.0
"""Seconds a step that waits for the app gives it, unless the step or the script says otherwise."""

SCRIPT_FAILED_CLOSE_CODE = 4000
"""The close code of a session whose script failed."""

_SETTLE_SLACK = 5.0
"""Added to a script's own time budget when :meth:`Script.wait` has no ``timeout``."""

_AUDIO_BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH  # mono
_SHOWN_MESSAGES = 20
"""At most this many lines of client messages in a ScriptError."""

_PREDICATE_TEXT = 500
"""At most this many characters of what a ``matches`` predicate raised."""

_brief = reprlib.Repr()
_brief.maxstring = 120
_brief.maxother = 120
_brief.maxdict = 8
_brief.maxlist = 8


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset.UNSET


def _checked_timeout(timeout: object, what: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{what}: timeout must be a number of seconds or None, got {timeout!r}.")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"{what}: timeout must be positive and finite, got {timeout!r}.")
    return float(timeout)


def _checked_seconds(seconds: object, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what}: seconds must be a number, got {seconds!r}.")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what}: seconds must be zero or more and finite, got {seconds!r}.")
    return float(seconds)


def _checked_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what}: text must be a str, got {type(text).__name__}.")
    return text


def _data_type(value: Any) -> str:
    """The contract's ``dataType`` for a Python value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "string"


def _callable_name(function: Callable[..., Any]) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


# -- steps -----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Say:
    """The agent says ``text``: ``response_text`` partials and final, then
    ``response_audio`` chunks ending with ``is_final``, all with one new turn id."""

    kind: ClassVar[str] = "say"
    text: str

    def __repr__(self) -> str:
        return f"say({_brief.repr(self.text)})"


@dataclass(frozen=True, repr=False)
class CallTool:
    """The agent asks the app to run tool ``name`` with ``arguments`` (a ``tool_call``)."""

    kind: ClassVar[str] = "tool_call"
    name: str
    arguments: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        args = "".join(f", {key}={_brief.repr(value)}" for key, value in self.arguments)
        return f"tool_call({_brief.repr(self.name)}{args})"

    def wire_arguments(self) -> list[dict[str, Any]]:
        """The arguments as the contract's ``VoiceSessionInputVariable`` list."""
        return [
            {
                "name": key,
                "type": "static",
                "dataType": _data_type(value),
                "description": "",
                "required": True,
                "value": value,
            }
            for key, value in self.arguments
        ]


@dataclass(frozen=True, repr=False)
class ExpectToolOutput:
    """Wait for the app's ``tool_call_output`` for the oldest ``tool_call`` not
    checked yet, and check it."""

    kind: ClassVar[str] = "expect_tool_output"
    contains: str | None = None
    equals: Any = _UNSET
    matches: Callable[[str], object] | None = None
    timeout: float | None = None

    def __repr__(self) -> str:
        parts = []
        if self.contains is not None:
            parts.append(f"contains={_brief.repr(self.contains)}")
        if self.equals is not _UNSET:
            parts.append(f"equals={_brief.repr(self.equals)}")
        if self.matches is not None:
            parts.append(f"matches={_callable_name(self.matches)}")
        if self.timeout is not None:
            parts.append(f"timeout={self.timeout}")
        return f"expect_tool_output({', '.join(parts)})"

    def wanted(self) -> str:
        """What this step expects, in words."""
        parts = []
        if self.contains is not None:
            parts.append(f"containing {_brief.repr(self.contains)}")
        if isinstance(self.equals, str):
            parts.append(f"exactly {_brief.repr(self.equals)}")
        elif self.equals is not _UNSET:
            parts.append(f"JSON equal to {_brief.repr(self.equals)}")
        if self.matches is not None:
            parts.append(f"accepted by {_callable_name(self.matches)}")
        return "an output " + " and ".join(parts) if parts else "an output"

    def problem(self, output: str) -> str | None:
        """Why ``output`` does not do, or ``None`` when it does."""
        if self.contains is not None and self.contains not in output:
            return f"it does not contain {_brief.repr(self.contains)}"
        if isinstance(self.equals, str):
            if output != self.equals:
                return f"it is not exactly {_brief.repr(self.equals)}"
        elif self.equals is not _UNSET:
            try:
                value = json.loads(output)
            except ValueError:
                return "it is not JSON"
            if value != self.equals:
                return f"its JSON value is not {_brief.repr(self.equals)}"
        if self.matches is not None:
            name = _callable_name(self.matches)
            try:
                accepted = self.matches(output)
            except Exception as exc:  # the predicate's own assertion, most often
                text = str(exc)
                text = text if len(text) <= _PREDICATE_TEXT else text[:_PREDICATE_TEXT] + "..."
                return f"{name} raised {type(exc).__name__}: " + text.replace("\n", "\n    ")
            if not accepted:
                return f"{name} returned {_brief.repr(accepted)}"
        return None


@dataclass(frozen=True, repr=False)
class ExpectAudio:
    """Wait until the app has sent ``seconds`` more of audio (``None``: any audio at all)."""

    kind: ClassVar[str] = "expect_audio"
    seconds: float | None = None
    timeout: float | None = None

    def __repr__(self) -> str:
        parts = [] if self.seconds is None else [f"seconds={self.seconds}"]
        if self.timeout is not None:
            parts.append(f"timeout={self.timeout}")
        return f"expect_audio({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class Listen:
    """Wait until the app has spoken one turn: speech, then enough silence (or
    no audio) for the voice detector to end it."""

    kind: ClassVar[str] = "listen"
    timeout: float | None = None

    def __repr__(self) -> str:
        return "listen()" if self.timeout is None else f"listen(timeout={self.timeout})"


@dataclass(frozen=True, repr=False)
class CallerSays:
    """As if the caller had said ``text``: ``speech_started``, ``speech_stopped``,
    then ``input_audio_transcript`` partials and final with a new turn id."""

    kind: ClassVar[str] = "caller_says"
    text: str

    def __repr__(self) -> str:
        return f"caller_says({_brief.repr(self.text)})"


@dataclass(frozen=True, repr=False)
class Interrupt:
    """The caller barges in: ``speech_started``, then ``interruption``."""

    kind: ClassVar[str] = "interrupt"

    def __repr__(self) -> str:
        return "interrupt()"


@dataclass(frozen=True, repr=False)
class Wait:
    """Pause for ``seconds`` (on the server's ``sleep``, so simulated time works)."""

    kind: ClassVar[str] = "wait"
    seconds: float

    def __repr__(self) -> str:
        return f"wait({self.seconds})"


@dataclass(frozen=True, repr=False)
class End:
    """End the session: ``session_ended``, then close 1000."""

    kind: ClassVar[str] = "end"

    def __repr__(self) -> str:
        return "end()"


Step = (
    Say | CallTool | ExpectToolOutput | ExpectAudio | Listen | CallerSays | Interrupt | Wait | End
)
"""One step of a script."""

_STEP_TYPES = (
    Say,
    CallTool,
    ExpectToolOutput,
    ExpectAudio,
    Listen,
    CallerSays,
    Interrupt,
    Wait,
    End,
)


def say(text: str) -> Say:
    """The agent says ``text`` (one turn of text and audio)."""
    return Say(_checked_text(text, "say()"))


def tool_call(name: str, /, **arguments: Any) -> CallTool:
    """The agent calls the app's tool ``name`` with these arguments (JSON values).

    Each argument goes out as the contract's ``VoiceSessionInputVariable``:
    ``name``, ``type`` ``"static"``, the ``dataType`` of its value (string,
    number, boolean, object or array) and the ``value``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"tool_call(): the tool needs a non-empty str name, got {_brief.repr(name)}."
        )
    for key, value in arguments.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise TypeError(
                f"tool_call({_brief.repr(name)}): argument {key!r} is not a JSON value: "
                f"{_brief.repr(value)}"
            ) from None
    return CallTool(name, tuple(arguments.items()))


def expect_tool_output(
    *,
    contains: str | None = None,
    equals: Any = _UNSET,
    matches: Callable[[str], object] | None = None,
    timeout: float | None = None,
) -> ExpectToolOutput:
    """Wait for the app's output for the oldest ``tool_call`` not checked yet, and check it.

    ``contains``: a substring of the output; ``equals``: the output exactly (a
    str), or its JSON value (anything else); ``matches``: a function of the
    output text that returns true (or raises, as an ``assert`` does) to accept
    it. All that are given must hold; none given accepts any output. Waits
    ``timeout`` seconds at most (default: the script's).
    """
    if contains is not None and not isinstance(contains, str):
        raise TypeError(
            f"expect_tool_output(): contains must be a str, got {_brief.repr(contains)}."
        )
    if matches is not None and not callable(matches):
        raise TypeError("expect_tool_output(): matches must be callable.")
    if equals is not _UNSET and not isinstance(equals, str):
        try:
            json.dumps(equals, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise TypeError(
                "expect_tool_output(): equals must be a str or a JSON value, "
                f"got {_brief.repr(equals)}."
            ) from None
    return ExpectToolOutput(
        contains, equals, matches, _checked_timeout(timeout, "expect_tool_output()")
    )


def expect_audio(seconds: float | None = None, *, timeout: float | None = None) -> ExpectAudio:
    """Wait until the app has sent ``seconds`` more of audio than earlier
    ``expect_audio`` steps took (``None``: any audio)."""
    checked = None if seconds is None else _checked_seconds(seconds, "expect_audio()")
    return ExpectAudio(checked, _checked_timeout(timeout, "expect_audio()"))


def listen(*, timeout: float | None = None) -> Listen:
    """Wait for the app's next turn of speech (each ``listen`` takes one turn)."""
    return Listen(_checked_timeout(timeout, "listen()"))


def caller_says(text: str) -> CallerSays:
    """Report a turn of the caller saying ``text``, without any audio."""
    return CallerSays(_checked_text(text, "caller_says()"))


def interrupt() -> Interrupt:
    """The caller interrupts the agent: ``speech_started``, then ``interruption``."""
    return Interrupt()


def wait(seconds: float) -> Wait:
    """Pause the script for ``seconds``."""
    return Wait(_checked_seconds(seconds, "wait()"))


def end() -> End:
    """End the session: ``session_ended``, then close 1000. Must be the last step."""
    return End()


# -- failures --------------------------------------------------------------------------


def _audio_seconds(data: Any) -> float:
    audio = data.get("audio") if isinstance(data, dict) else None
    if not isinstance(audio, str):
        return 0.0
    try:
        size = len(base64.b64decode(audio, validate=True))
    except binascii.Error:
        return 0.0
    return size / _AUDIO_BYTES_PER_SECOND


def brief(value: object) -> str:
    """``repr(value)``, cut short: an app's output may be megabytes."""
    return _brief.repr(value)


def describe_received(messages: Sequence[Message], limit: int = _SHOWN_MESSAGES) -> list[str]:
    """The last ``limit`` lines of one line per client message, runs of
    ``input_audio`` folded into one; first a line saying how many went unshown."""
    lines: deque[str] = deque(maxlen=limit)
    total = 0
    chunks, seconds = 0, 0.0

    def fold() -> None:
        nonlocal chunks, seconds, total
        if chunks:
            lines.append(f"input_audio x {chunks} ({seconds:.2f} s of audio)")
            total += 1
            chunks, seconds = 0, 0.0

    for message in messages:
        if message.error is None and message.type == "input_audio":
            chunks += 1
            seconds += _audio_seconds(message.data)
            continue
        fold()
        total += 1
        if message.error is not None:
            raw = message.raw if message.raw is not None else message.data
            lines.append(f"rejected frame ({message.error}): {_brief.repr(raw)}")
        elif message.type == "tool_call_output":
            data = message.data
            lines.append(
                f"tool_call_output for {_brief.repr(data.get('toolCallId'))}: "
                f"{_brief.repr(data.get('output'))}"
            )
        else:
            lines.append(f"{message.type} {_brief.repr(message.data)}")
    fold()
    hidden = [f"... {total - len(lines)} earlier lines"] if total > len(lines) else []
    return hidden + list(lines)


class ScriptError(AssertionError):
    """A scripted agent's step failed, or its script did not run to the end.

    The message names the step, says what it expected and what the app sent,
    and lists the client messages the session received. ``step`` is the step
    (``None`` when the script never ran), ``index`` its position from 0, and
    ``received`` the client messages as :class:`~vatel.testing.Message`.
    """

    def __init__(
        self,
        message: str,
        *,
        step: Step | None = None,
        index: int | None = None,
        received: Sequence[Message] = (),
    ) -> None:
        super().__init__(message)
        self.step = step
        self.index = index
        self.received = tuple(received)


def _failure(
    script: Script,
    index: int,
    headline: str,
    details: Sequence[str],
    received: Sequence[Message],
) -> ScriptError:
    step = script.steps[index] if index < len(script.steps) else None
    where = f"step {index + 1} of {len(script.steps)}, {step!r}," if step else "the script"
    lines = [f"{script._label()}: {where} {headline}"]
    lines += [f"  {detail}" for detail in details]
    lines.append(f"  client messages received ({len(received)}):")
    lines += [f"    {line}" for line in describe_received(received)] or ["    (none)"]
    return ScriptError("\n".join(lines), step=step, index=index, received=received)


# -- the handle ------------------------------------------------------------------------


def _budget(step: Step, timeout: float) -> float:
    """The longest ``step`` can take at real-time pace."""
    if isinstance(step, (ExpectToolOutput, ExpectAudio, Listen)):
        return step.timeout if step.timeout is not None else timeout
    if isinstance(step, Wait):
        return step.seconds
    if isinstance(step, Say):
        return max(0.4, SECONDS_PER_CHARACTER * len(step.text)) + 0.3
    return 0.0


def _checked_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable):
        raise TypeError("a script is a list of steps (say(...), tool_call(...), ...).")
    checked = tuple(steps)
    unchecked_calls = 0
    for index, step in enumerate(checked):
        where = f"script step {index + 1}"
        if not isinstance(step, _STEP_TYPES):
            raise TypeError(
                f"{where} is not a step (say(...), tool_call(...), ...): {_brief.repr(step)}"
            )
        if isinstance(step, End) and index != len(checked) - 1:
            raise ValueError(f"{where}: end() must be the last step.")
        if isinstance(step, CallTool):
            unchecked_calls += 1
        elif isinstance(step, ExpectToolOutput):
            if not unchecked_calls:
                raise ValueError(
                    f"{where}, {step!r}: there is no tool_call() before it left to check."
                )
            unchecked_calls -= 1
    return checked


class Script:
    """A script given to :meth:`MockServer.script <vatel.testing.MockServer.script>`,
    and how its run went.

    Made by the server; safe to read from any thread while the session runs.
    """

    def __init__(self, agent_id: str | None, steps: Iterable[Step], *, timeout: float) -> None:
        self.agent_id = agent_id
        """The agent whose next session takes the script (``None``: any agent)."""
        self.steps = _checked_steps(steps)
        self.timeout = _checked_timeout(timeout, "script") or DEFAULT_STEP_TIMEOUT
        """Seconds a waiting step gives the app unless it has its own ``timeout``."""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._session: MockSession | None = None
        self._position = 0
        self._error: ScriptError | None = None
        self._reported = False

    def __repr__(self) -> str:
        if self._session is None:
            state = "waiting for a session"
        elif self._error is not None:
            state = f"failed at step {(self._error.index or 0) + 1}"
        elif self._done.is_set():
            state = "passed"
        else:
            state = f"at step {self._position + 1} of {len(self.steps)}"
        return f"<Script {self._label()}: {len(self.steps)} steps, {state}>"

    def _label(self) -> str:
        return f"script for agent {self.agent_id}" if self.agent_id else "script"

    # What happened

    @property
    def session(self) -> MockSession | None:
        """The session that took the script, once one has."""
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def done(self) -> bool:
        """True once every step has run, or one failed."""
        return self._done.is_set()

    @property
    def passed(self) -> bool:
        """True once every step has run and none failed."""
        return self._done.is_set() and self._error is None

    @property
    def error(self) -> ScriptError | None:
        """Why the script failed, once it has."""
        return self._error

    @property
    def position(self) -> int:
        """How many steps have run to the end so far."""
        return self._position

    def budget(self) -> float:
        """Seconds the whole script may take at real-time pace, plus 5 s."""
        return _SETTLE_SLACK + sum(_budget(step, self.timeout) for step in self.steps)

    # Checking

    def check(self) -> None:
        """Raise :class:`ScriptError` unless the script has run to the end and
        passed; never waits."""
        __tracebackhide__ = True
        error = self._verdict(None)
        if error is not None:
            self._reported = True
            raise error

    def wait(self, timeout: float | None = None) -> None:
        """Block until the script is done; raise :class:`ScriptError` if it
        failed, or did not finish within ``timeout`` seconds (default: its
        :meth:`budget`)."""
        __tracebackhide__ = True
        limit = self.budget() if timeout is None else timeout
        self._done.wait(limit)
        error = self._verdict(limit)
        if error is not None:
            self._reported = True
            raise error

    async def wait_async(self, timeout: float | None = None) -> None:
        """:meth:`wait` for async tests; does not block the event loop."""
        __tracebackhide__ = True
        await asyncio.to_thread(self.wait, timeout)

    def _verdict(self, waited: float | None) -> ScriptError | None:
        with self._lock:
            if self._error is not None:
                return self._error
            if self._done.is_set():
                return None
            session = self._session
            position = self._position
        if session is None:
            within = f" within {waited} s" if waited is not None else ""
            return ScriptError(f"{self._label()} never ran: no voice session took it{within}.")
        within = f" after {waited} s" if waited is not None else " yet"
        return _failure(self, position, f"has not finished{within}.", [], session.received)

    # Driven by the server (from its own thread)

    def _begin(self, session: MockSession) -> None:
        with self._lock:
            self._session = session
        if not self.steps:
            self._pass()

    def _advance(self, position: int) -> None:
        with self._lock:
            self._position = position

    def _pass(self) -> None:
        with self._lock:
            self._position = len(self.steps)
        self._done.set()

    def _fail(self, index: int, headline: str, details: Sequence[str] = ()) -> ScriptError | None:
        """Fail the script at step ``index`` unless it is done already; the error."""
        with self._lock:
            if self._done.is_set() or self._session is None:
                return None
            error = _failure(self, index, headline, details, self._session.received)
            self._error = error
        self._done.set()
        return error


class ScriptBook:
    """The scripts of one server: queued until a session takes one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[Script] = []
        self._given: list[Script] = []

    def add(self, script: Script) -> None:
        with self._lock:
            self._queued.append(script)
            self._given.append(script)

    def take(self, agent_id: str) -> Script | None:
        """The oldest queued script for ``agent_id`` (or for any agent), now taken."""
        with self._lock:
            for index, script in enumerate(self._queued):
                if script.agent_id is None or script.agent_id == agent_id:
                    return self._queued.pop(index)
        return None

    def given(self) -> list[Script]:
        with self._lock:
            return list(self._given)

    def clear(self) -> None:
        """Forget the scripts no session has taken yet."""
        with self._lock:
            queued = set(map(id, self._queued))
            self._given = [s for s in self._given if id(s) not in queued]
            self._queued.clear()
