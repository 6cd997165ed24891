"""Client tools: handlers the agent calls through ``tool_call`` messages.

A :class:`ToolRouter` holds the handlers. For each call it converts the
arguments (by the handler's annotations, else by their ``dataType``), runs the
handler under its time-out, and turns the outcome into the output string the
agent receives. Every way a call can go wrong (unknown tool, bad or missing
argument, a handler that raises, runs out of time or returns something that
cannot be sent) ends in an ``{"error": ...}`` output, never in an exception
out of :meth:`ToolRouter.call` / :meth:`ToolRouter.acall`.

Sync handlers run on daemon threads of their own (never an executor that is
joined at exit), so a handler that never returns cannot keep the process alive.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import functools
import inspect
import json
import logging
import math
import reprlib
import threading
import typing
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._events import ToolCall, ToolCallArgument
from ._serialize import tool_output_text

if TYPE_CHECKING:
    import asyncio

# ``asyncio`` (about 20 ms of imports) loads with the first asyncio use here, not
# with the module: a blocking session's tools may never need it.

__all__ = [
    "DEFAULT_TOOL_TIMEOUT",
    "ToolContext",
    "ToolError",
    "ToolRouter",
    "ToolStats",
    "current_tool_call",
]

log = logging.getLogger("vatel")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)

DEFAULT_TOOL_TIMEOUT = 30.0
"""Seconds a tool may run before the agent is told it timed out."""


class ToolError(Exception):
    """Raise from a tool to answer the agent with this message as the error.

    Other exceptions reach the agent only as ``"Tool 'name' failed."``, since
    their text is written for developers and may name internal systems.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToolArgumentError(ValueError):
    """An argument's value does not fit its ``dataType`` or its annotation."""


@dataclass(frozen=True)
class ToolStats:
    """Counts of what a router's tool calls came to (a snapshot)."""

    started: int = 0
    """Handlers run."""
    failed: int = 0
    """Handlers that raised, or returned an output that cannot be sent."""
    timed_out: int = 0
    """Handlers still running when their time-out passed."""
    rejected: int = 0
    """Calls refused unrun because their session already had its maximum in flight."""
    cancelled: int = 0
    """Calls cancelled by an interruption (tools registered with ``cancel_on_interruption``)."""


class _Unset(enum.Enum):
    TOKEN = "the router's time-out"

    def __repr__(self) -> str:
        return "<the router's time-out>"


_UNSET = _Unset.TOKEN

# Values come from the server and may be huge or nested a thousand levels deep:
# messages show a bounded summary, never a full (possibly recursion-breaking) repr.
_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 80


# -- the bound on tool calls in flight --------------------------------------------


class _InFlight:
    """A session's count of tool calls from receipt until their handler has stopped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def admit(self) -> _Lease | None:
        """A lease on one place, or ``None`` when all ``limit`` are taken."""
        with self._lock:
            if self._count >= self.limit:
                return None
            self._count += 1
        return _Lease(self)

    def _free(self) -> None:
        with self._lock:
            self._count -= 1


class _Lease:
    """One admitted call's place; freed when every holder has released it.

    The run loop holds it until the answer is sent; a handler thread or task
    holds it until the handler really stops, so a timed-out handler that
    keeps running keeps its place.
    """

    def __init__(self, owner: _InFlight) -> None:
        self._owner = owner
        self._holders = 1
        self._lock = threading.Lock()

    def retain(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            freed = self._holders == 0
        if freed:
            self._owner._free()


# The run loops set this around each call, so a router (or a subclass that
# wraps another router) can hand the lease to the handler it starts.
_current_lease: contextvars.ContextVar[_Lease | None] = contextvars.ContextVar(
    "vatel_tool_lease", default=None
)


# -- the call a handler runs for ----------------------------------------------------


class ToolContext:
    """The tool call a handler is running for: see :func:`current_tool_call`.

    ``cancelled`` turns true when the call is cancelled, which happens to a tool
    registered with ``cancel_on_interruption=True`` when the user interrupts
    the agent. The agent has been answered by then; a sync handler that checks
    the flag (or waits on :meth:`wait_cancelled`) can stop its work early.
    Async handlers need not look: their task is cancelled.
    """

    __slots__ = ("_cancellable", "_event", "_interrupted", "_kind", "_lock", "_wakers", "call")

    def __init__(self, call: ToolCall) -> None:
        self.call = call
        """The :class:`vatel.ToolCall` being answered."""
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._interrupted = False
        self._cancellable = False
        self._wakers: list[Callable[[], None]] = []
        self._kind: str | None = None  # what the call came to, for the session's counters

    def __repr__(self) -> str:
        return (
            f"<ToolContext {_brief.repr(self.call.tool_name)} "
            f"id={_brief.repr(self.call.tool_call_id)} cancelled={self.cancelled}>"
        )

    @property
    def cancelled(self) -> bool:
        """True once the call has been cancelled."""
        return self._event.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block until the call is cancelled or ``timeout`` seconds pass; ``cancelled``."""
        return self._event.wait(timeout)

    def _arm(self) -> bool:
        """The tool cancels on interruption; True if an interruption already came."""
        with self._lock:
            self._cancellable = True
            interrupted = self._interrupted
        if interrupted:
            self._cancel()
        return interrupted

    def _interrupt(self) -> bool:
        """The user interrupted the agent; True if that cancels this call."""
        with self._lock:
            self._interrupted = True
            cancellable = self._cancellable and not self._event.is_set()
        if cancellable:
            self._cancel()
        return cancellable

    def _cancel(self) -> None:
        with self._lock:
            self._event.set()
            wakers, self._wakers = self._wakers, []
        for wake in wakers:
            wake()

    def _on_cancel(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from whichever thread cancels) once the call is cancelled."""
        with self._lock:
            if not self._event.is_set():
                self._wakers.append(wake)
                return
        wake()


_current_context: contextvars.ContextVar[ToolContext | None] = contextvars.ContextVar(
    "vatel_tool_context", default=None
)


def current_tool_call() -> ToolContext:
    """The tool call the calling handler runs for, with its cancellation flag.

    Works in sync handlers (on their own thread) and async ones alike, with no
    special parameter. Raises :class:`RuntimeError` outside a tool handler.
    """
    context = _current_context.get()
    if context is None:
        raise RuntimeError("current_tool_call() is only available inside a tool handler.")
    return context


def _context_for(call: ToolCall) -> ToolContext:
    """The context a run loop made for ``call``, else a new one."""
    context = _current_context.get()
    if context is not None and context.call is call:
        return context
    return ToolContext(call)


def _note(kind: str) -> None:
    """Record what the current call came to, for its session's counters."""
    context = _current_context.get()
    if context is not None and context._kind is None:
        context._kind = kind


# -- arguments ---------------------------------------------------------------------


def _coerce(argument: ToolCallArgument) -> Any:
    """The argument's value as the Python type its ``dataType`` names.

    Values already of the right type pass through; strings are parsed, since
    some pipelines send every value as text.
    """
    value, kind = argument.value, (argument.data_type or "").lower()
    if value is None or not kind:
        return value
    if kind == "string":
        if isinstance(value, str):
            return value
        try:
            return json.dumps(value)
        except (RecursionError, ValueError, TypeError):  # nested too deep to be text
            raise ToolArgumentError(
                f"argument {_brief.repr(argument.name)} should be a string, "
                f"got {_brief.repr(value)}"
            ) from None
    if kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                return int(number) if number.is_integer() and "." not in value else number
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind in ("object", "array"):
        expected = dict if kind == "object" else list
        if isinstance(value, str):
            with contextlib.suppress(ValueError, RecursionError):
                value = json.loads(value)
        if isinstance(value, expected):
            return value
    else:
        return value  # A data type newer than this SDK: hand the value over untouched.
    raise ToolArgumentError(
        f"argument {_brief.repr(argument.name)} should be a {kind}, got {_brief.repr(value)}"
    )


_OMIT = object()
"""A ``None`` for a parameter with a default that does not take ``None``: use the default."""


@dataclass(frozen=True)
class _Parameter:
    """How one annotated handler parameter validates its argument."""

    name: str
    adapter: Any
    """A ``pydantic.TypeAdapter`` for the annotation."""
    has_default: bool

    def convert(self, value: Any) -> Any:
        from pydantic import ValidationError

        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            first = exc
        except RecursionError:
            raise ToolArgumentError(f"argument {self.name!r} is nested too deeply") from None
        except Exception as exc:  # a validator of the app's own that raised something else
            raise ToolArgumentError(
                f"argument {self.name!r} could not be validated ({type(exc).__name__})"
            ) from None
        if isinstance(value, str):
            # Agents often send a list or an object as its JSON text.
            with contextlib.suppress(ValidationError, RecursionError):
                return self.adapter.validate_json(value)
        if value is None and self.has_default:
            return _OMIT
        raise ToolArgumentError(f"argument {self.name!r} is not valid: {_summary(first)}")


def _summary(error: Any) -> str:
    """A validation error's first problem, without the (possibly huge) input."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    if not problems:  # pragma: no cover - pydantic always names one
        return "does not fit its type"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    text = str(first.get("msg", "does not fit its type"))
    if where:
        text += f" (at {where})"
    if len(problems) > 1:
        text += f", and {len(problems) - 1} more"
    return _brief.repr(text)[1:-1] if len(text) > 200 else text


_UNCHECKED: tuple[Any, ...] = (inspect.Parameter.empty, Any, object)


def _adapter(tool: str, name: str, annotation: Any) -> Any:
    """A lax ``TypeAdapter`` for ``annotation``, built once at registration."""
    from pydantic import ConfigDict, PydanticUserError, TypeAdapter

    try:
        # Lax by default ("3" → 3); numbers are also taken as text for str.
        return TypeAdapter(annotation, config=ConfigDict(coerce_numbers_to_str=True))
    except PydanticUserError:
        pass  # Models, dataclasses and TypedDicts bring their own configuration.
    try:
        return TypeAdapter(annotation)
    except Exception as exc:
        raise TypeError(
            f"Tool {tool!r}: parameter {name!r} is annotated with {annotation!r}, which "
            f"cannot be validated ({type(exc).__name__}); use a type pydantic supports, "
            "or Any."
        ) from None


def _type_hints(tool: str, handler: Handler) -> dict[str, Any]:
    """The handler's resolved annotations (string ones included)."""
    target: Any = handler
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target) or isinstance(target, type)):
        method = inspect.getattr_static(type(target), "__call__", None)
        if not inspect.isfunction(method):
            return {}  # A builtin or C callable: nothing to resolve.
        target = method
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise TypeError(
            f"Tool {tool!r}: the handler's annotations cannot be resolved "
            f"({type(exc).__name__}: {exc})."
        ) from None


def _checked_timeout(timeout: object, what: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"{what}: timeout must be a number of seconds or None, got {type(timeout).__name__}."
        )
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(
            f"{what}: timeout must be a positive, finite number of seconds or None "
            f"(no limit), got {timeout!r}."
        )
    return float(timeout)


# -- running handlers ------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    cancelled: bool = False


_TIMED_OUT = _Outcome(timed_out=True)
_CANCELLED = _Outcome(cancelled=True)

# Tasks given up on (timed out, or their caller cancelled) that have not
# finished yet: referenced here so they are not collected mid-flight.
_abandoned: set[asyncio.Future[Any]] = set()


def _abandon(task: asyncio.Future[Any]) -> None:
    if task.done():
        _forget(task)
        return
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: nobody waits for it any more


def _cancel_waiter(context: ToolContext | None) -> asyncio.Future[_Outcome] | None:
    """A future settled (on this loop) when ``context`` is cancelled."""
    if context is None:
        return None
    import asyncio

    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[_Outcome] = loop.create_future()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, waiter, _CANCELLED)

    context._on_cancel(wake)
    return waiter


async def _run_awaitable(
    awaitable: Awaitable[Any], timeout: float | None, context: ToolContext | None = None
) -> _Outcome:
    """Await ``awaitable`` for at most ``timeout`` seconds, or until ``context``
    is cancelled; cancel it after that.

    Returns at the deadline even when the awaitable ignores its cancellation.
    """
    import asyncio

    task = asyncio.ensure_future(awaitable)
    lease = _current_lease.get()
    if lease is not None:
        lease.retain()
        task.add_done_callback(lambda _: lease.release())
    cancelled = _cancel_waiter(context)
    waiters: set[asyncio.Future[Any]] = {task} if cancelled is None else {task, cancelled}
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # our caller was cancelled: so is the handler
        task.cancel()
        _abandon(task)
        raise
    finally:
        if cancelled is not None:
            cancelled.cancel()
    if context is not None and context.cancelled:
        # Cancelled before its answer went out: the agent hears of the
        # cancellation, whatever the handler made of it.
        task.cancel()
        _abandon(task)
        return _CANCELLED
    if task not in done:
        task.cancel()
        _abandon(task)
        return _TIMED_OUT
    if task.cancelled():
        return _Outcome(error=asyncio.CancelledError())
    error = task.exception()
    return _Outcome(error=error) if error is not None else _Outcome(value=task.result())


def _run_plain(
    handler: Handler,
    kwargs: dict[str, Any],
    timeout: float | None,
    *,
    await_here: bool,
    context: ToolContext | None = None,
) -> _Outcome:
    """Call a plain handler; an awaitable it returns is run to completion here
    (``await_here``, cancelled with ``context``) or handed back as the value."""
    try:
        result = handler(**kwargs)
        if await_here and inspect.isawaitable(result):
            import asyncio

            return asyncio.run(_run_awaitable(result, timeout, context))
        return _Outcome(value=result)
    except Exception as exc:
        return _Outcome(error=exc)


def _start_thread(
    name: str, body: Callable[[], _Outcome], deliver: Callable[[_Outcome], None]
) -> None:
    """Run ``body`` on a daemon thread of its own and ``deliver`` its outcome.

    Daemon, so a handler that never returns does not hold up the interpreter's
    exit; the caller's context variables come along, as with ``asyncio.to_thread``.
    """
    lease = _current_lease.get()
    if lease is not None:
        lease.retain()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            try:
                outcome = context.run(body)
            except BaseException as exc:  # SystemExit and the like end only this thread
                outcome = _Outcome(error=exc)
            deliver(outcome)
        finally:
            if lease is not None:
                lease.release()

    threading.Thread(target=run, name=f"vatel-tool-{name}"[:64], daemon=True).start()


def _settle(future: asyncio.Future[_Outcome], outcome: _Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


# -- the router ------------------------------------------------------------------------


def _error_output(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


@dataclass(frozen=True)
class _Tool:
    name: str
    handler: Handler
    accepts: frozenset[str] | None
    """Parameter names the handler takes; ``None`` when it takes ``**kwargs``."""
    is_async: bool
    timeout: float | None
    required: frozenset[str]
    parameters: dict[str, _Parameter] = field(default_factory=dict)
    """Annotated parameters, validated by their annotation."""
    cancel_on_interruption: bool = False


class ToolRouter:
    """A registry of client tools, answered by name.

    >>> tools = ToolRouter()
    >>> @tools.tool(timeout=5)
    ... def get_weather(city: str, days: int = 1) -> dict[str, object]:
    ...     return {"city": city, "sky": "sunny"}

    Arguments arrive as keyword arguments. An annotated parameter is validated
    and converted by its annotation (lax: ``"3"`` fits ``int``; a list or
    object may come as JSON text); an unannotated one by the argument's
    ``dataType``. Arguments the handler does not declare are dropped unless it
    takes ``**kwargs``. The result is sent as :func:`tool_output_text` writes
    it (a str as is, anything else as JSON).

    Every tool has a time-out: ``timeout`` seconds here (default
    :data:`DEFAULT_TOOL_TIMEOUT`, 30 s), overridable per tool; ``None`` means
    no limit. An unknown tool, a bad or missing argument, a time-out and a
    failing handler all answer with ``{"error": "..."}`` and never end the
    session. A failure tells the agent only ``"Tool 'name' failed."`` (the
    full exception is logged at ERROR) unless the handler raised
    :class:`ToolError`, whose message is for the agent, or ``on_error``
    (called with the call and the exception) returns the output to send.
    """

    def __init__(
        self,
        *,
        timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        on_error: Callable[[ToolCall, Exception], object] | None = None,
    ) -> None:
        self._timeout = _checked_timeout(timeout, "ToolRouter")
        if on_error is not None and not callable(on_error):
            raise TypeError("ToolRouter: on_error must be callable or None.")
        self._on_error = on_error
        self._tools: dict[str, _Tool] = {}
        self._counts = dict.fromkeys(("started", "failed", "timed_out", "rejected", "cancelled"), 0)
        self._counts_lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRouter({sorted(self._tools)})"

    @property
    def timeout(self) -> float | None:
        """The time-out of tools registered without one (``None``: no limit)."""
        return self._timeout

    @property
    def stats(self) -> ToolStats:
        """What this router's calls came to so far, over every session it served."""
        with self._counts_lock:
            return ToolStats(**self._counts)

    def _count(self, what: str) -> None:
        with self._counts_lock:
            self._counts[what] += 1

    # -- registration --------------------------------------------------------------

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        timeout: float | _Unset | None = _UNSET,
        cancel_on_interruption: bool = False,
    ) -> None:
        """Register ``handler`` (a function or coroutine function) as tool ``name``.

        ``timeout`` (seconds, or ``None`` for no limit) defaults to the router's.
        With ``cancel_on_interruption``, a call still running when the user
        interrupts the agent is cancelled (see :class:`ToolContext`) and the
        agent is told so. Raises ``ValueError`` / ``TypeError`` for a name
        already taken, a bad time-out, or a handler whose parameters cannot
        take named arguments.
        """
        if not isinstance(cancel_on_interruption, bool):
            raise TypeError(
                f"Tool {name!r}: cancel_on_interruption must be a bool, "
                f"got {type(cancel_on_interruption).__name__}."
            )
        if not isinstance(name, str) or not name:
            raise ValueError(f"A tool needs a non-empty str name, got {name!r}.")
        if not callable(handler):
            raise TypeError(f"Tool {name!r}: handler must be callable.")
        if name in self._tools:
            raise ValueError(f"Tool {name!r} is already registered.")
        limit = (
            self._timeout
            if isinstance(timeout, _Unset)
            else _checked_timeout(timeout, f"Tool {name!r}")
        )
        signature = inspect.signature(handler)
        hints = _type_hints(name, handler)
        accepts: set[str] | None = set()
        required: set[str] = set()
        parameters: dict[str, _Parameter] = {}
        for p in signature.parameters.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                accepts = None
                continue
            if p.kind is inspect.Parameter.VAR_POSITIONAL:
                continue
            if p.kind is inspect.Parameter.POSITIONAL_ONLY:
                if p.default is inspect.Parameter.empty:
                    raise TypeError(
                        f"Tool {name!r}: parameter {p.name!r} is positional-only; "
                        "tool arguments arrive by name."
                    )
                continue
            if accepts is not None:
                accepts.add(p.name)
            if p.default is inspect.Parameter.empty:
                required.add(p.name)
            annotation = hints.get(p.name, inspect.Parameter.empty)
            if not any(annotation is unchecked for unchecked in _UNCHECKED):
                parameters[p.name] = _Parameter(
                    p.name,
                    _adapter(name, p.name, annotation),
                    p.default is not inspect.Parameter.empty,
                )
        self._tools[name] = _Tool(
            name=name,
            handler=handler,
            accepts=None if accepts is None else frozenset(accepts),
            is_async=inspect.iscoroutinefunction(handler),
            timeout=limit,
            required=frozenset(required),
            parameters=parameters,
            cancel_on_interruption=cancel_on_interruption,
        )

    @overload
    def tool(self, name: H) -> H: ...
    @overload
    def tool(
        self,
        name: str | None = None,
        *,
        timeout: float | _Unset | None = _UNSET,
        cancel_on_interruption: bool = False,
    ) -> Callable[[H], H]: ...
    def tool(
        self,
        name: str | H | None = None,
        *,
        timeout: float | _Unset | None = _UNSET,
        cancel_on_interruption: bool = False,
    ) -> H | Callable[[H], H]:
        """Decorator registering a tool under ``name`` (default: the function's name).

        Works bare (``@tools.tool``) or called (``@tools.tool("get_weather",
        timeout=5, cancel_on_interruption=True)``); see :meth:`add`.
        """
        if callable(name):
            self.add(name.__name__, name, timeout=timeout)
            return name

        def register(handler: H) -> H:
            self.add(
                name or handler.__name__,
                handler,
                timeout=timeout,
                cancel_on_interruption=cancel_on_interruption,
            )
            return handler

        return register

    # -- answering -----------------------------------------------------------------

    def _prepare(self, call: ToolCall) -> tuple[_Tool, dict[str, Any]] | str:
        """The tool and its keyword arguments, or the error output to send."""
        tool = self._tools.get(call.tool_name)
        if tool is None:
            shown = _brief.repr(call.tool_name)
            log.warning("The agent called unknown tool %s.", shown)
            _note("failed")
            return _error_output(f"Unknown tool {shown}.")
        kwargs: dict[str, Any] = {}
        dropped: list[str] = []
        try:
            for argument in call.arguments:
                key = argument.name
                if key is None:  # An argument without a name cannot be passed as a keyword.
                    continue
                if tool.accepts is not None and key not in tool.accepts:
                    dropped.append(key)
                    continue
                parameter = tool.parameters.get(key)
                if parameter is None:
                    value = _coerce(argument)
                else:
                    value = parameter.convert(argument.value)
                if value is _OMIT:
                    kwargs.pop(key, None)
                else:
                    kwargs[key] = value
        except ToolArgumentError as exc:
            log.warning("Tool %r: %s", tool.name, exc)
            _note("failed")
            return _error_output(f"Tool {tool.name!r}: {exc}.")
        if dropped:
            log.debug("Tool %r ignores argument(s) %s.", tool.name, _brief.repr(sorted(dropped)))
        missing = tool.required - kwargs.keys()
        if missing:
            names = ", ".join(repr(m) for m in sorted(missing))
            log.warning("Tool %r: the agent left out required argument(s) %s.", tool.name, names)
            _note("failed")
            return _error_output(f"Tool {tool.name!r} is missing required argument(s): {names}.")
        return tool, kwargs

    def _finish(self, call: ToolCall, tool: _Tool, outcome: _Outcome) -> str:
        """The output to send for a handler's outcome."""
        if outcome.cancelled:
            self._count("cancelled")
            _note("cancelled")
            log.info(
                "Tool %r was cancelled by an interruption (call %s); the agent is told.",
                tool.name,
                _brief.repr(call.tool_call_id),
            )
            return _error_output(f"Tool {tool.name!r} was cancelled: the user interrupted.")
        if outcome.timed_out:
            self._count("timed_out")
            _note("timed_out")
            log.warning(
                "Tool %r timed out after %g s (call %s); the agent is told.",
                tool.name,
                tool.timeout,
                _brief.repr(call.tool_call_id),
            )
            return _error_output(f"Tool {tool.name!r} timed out.")
        if outcome.error is not None:
            return self._failed(call, tool, outcome.error)
        try:
            output = tool_output_text(outcome.value)
        except TypeError as exc:
            self._count("failed")
            _note("failed")
            log.error("Tool %r returned an output that cannot be sent: %s", tool.name, exc)
            return _error_output(f"Tool {tool.name!r} failed.")
        _note("answered")
        return output

    def _failed(self, call: ToolCall, tool: _Tool, exc: BaseException) -> str:
        self._count("failed")
        _note("failed")
        if isinstance(exc, ToolError):
            log.info("Tool %r answered with an error: %s", tool.name, exc.message)
            return _error_output(str(exc.message))
        log.error("Tool %r failed.", tool.name, exc_info=exc)
        if self._on_error is not None and isinstance(exc, Exception):
            try:
                return tool_output_text(self._on_error(call, exc))
            except Exception:
                log.exception("on_error failed for tool %r; sending the default output.", tool.name)
        return _error_output(f"Tool {tool.name!r} failed.")

    def _refuse(self, call: ToolCall, limit: int) -> str:
        """The output for a call refused because ``limit`` calls are in flight."""
        self._count("rejected")
        name = _brief.repr(call.tool_name)
        log.warning(
            "Refused tool call %s to %s unrun: %d tool calls already in flight.",
            _brief.repr(call.tool_call_id),
            name,
            limit,
        )
        return _error_output(f"Tool {name} was not run: too many tool calls in flight.")

    def call(self, call: ToolCall) -> str:
        """Run the tool for ``call`` and return the output to send.

        Blocks until the tool finishes, its time-out passes or (for a tool that
        cancels on interruption) the call is cancelled. With a time-out or
        cancellation, the handler runs on a daemon thread of its own (left
        running, unheard, if it overstays); otherwise in this thread. A
        coroutine handler is run to completion on a fresh event loop.
        """
        context = _context_for(call)
        token = _current_context.set(context)
        try:
            return self._call(call, context)
        finally:
            _current_context.reset(token)

    def _call(self, call: ToolCall, context: ToolContext) -> str:
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return prepared
        tool, kwargs = prepared
        cancellable = tool.cancel_on_interruption
        if cancellable and context._arm():
            return self._finish(call, tool, _CANCELLED)  # interrupted before it started
        self._count("started")
        timeout = tool.timeout
        if timeout is None and not cancellable:
            return self._finish(call, tool, _run_plain(tool.handler, kwargs, None, await_here=True))
        finished = threading.Event()
        outcomes: list[_Outcome] = []

        def deliver(outcome: _Outcome) -> None:
            outcomes.append(outcome)
            finished.set()

        if cancellable:
            context._on_cancel(finished.set)
        watched = context if cancellable else None
        _start_thread(
            tool.name,
            lambda: _run_plain(tool.handler, kwargs, timeout, await_here=True, context=watched),
            deliver,
        )
        finished.wait(timeout)
        if cancellable and context.cancelled:
            return self._finish(call, tool, _CANCELLED)  # whatever the handler made of it
        if outcomes:
            return self._finish(call, tool, outcomes[0])
        return self._finish(call, tool, _TIMED_OUT)

    async def acall(self, call: ToolCall) -> str:
        """Run the tool for ``call`` and return the output to send.

        Coroutine handlers run as a task, cancelled at their time-out, when the
        call is cancelled or when this call is cancelled; plain functions run
        on a daemon thread of their own so a slow one never blocks the event
        loop.
        """
        context = _context_for(call)
        token = _current_context.set(context)
        try:
            return await self._acall(call, context)
        finally:
            _current_context.reset(token)

    async def _acall(self, call: ToolCall, context: ToolContext) -> str:
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return prepared
        tool, kwargs = prepared
        watched = context if tool.cancel_on_interruption else None
        if watched is not None and watched._arm():
            return self._finish(call, tool, _CANCELLED)  # interrupted before it started
        self._count("started")
        if tool.is_async:
            try:
                awaitable = tool.handler(**kwargs)
            except Exception as exc:
                return self._finish(call, tool, _Outcome(error=exc))
            return self._finish(call, tool, await _run_awaitable(awaitable, tool.timeout, watched))
        import asyncio

        loop = asyncio.get_running_loop()
        started = loop.time()
        future: asyncio.Future[_Outcome] = loop.create_future()

        def deliver(outcome: _Outcome) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, outcome)

        _start_thread(
            tool.name,
            lambda: _run_plain(tool.handler, kwargs, None, await_here=False),
            deliver,
        )
        cancelled = _cancel_waiter(watched)
        waiters: set[asyncio.Future[_Outcome]] = {future}
        if cancelled is not None:
            waiters.add(cancelled)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=tool.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if cancelled is not None:
                cancelled.cancel()
        if watched is not None and watched.cancelled:
            return self._finish(call, tool, _CANCELLED)  # whatever the handler made of it
        if future not in done:
            return self._finish(call, tool, _TIMED_OUT)
        outcome = future.result()
        if outcome.error is None and inspect.isawaitable(outcome.value):
            # A plain function that returned a coroutine: run it on this loop,
            # in what is left of the time-out.
            left = None
            if tool.timeout is not None:
                left = max(tool.timeout - (loop.time() - started), 0.0)
            outcome = await _run_awaitable(outcome.value, left, watched)
        return self._finish(call, tool, outcome)
