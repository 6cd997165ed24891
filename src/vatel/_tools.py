"""Client tools: handlers the agent calls through ``tool_call`` messages."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import reprlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ._events import ToolCall, ToolCallArgument

__all__ = ["ToolRouter"]

log = logging.getLogger("vatel")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


class ToolArgumentError(ValueError):
    """An argument's value does not fit its ``dataType``."""


# Values come from the server and may be huge or nested a thousand levels deep:
# messages show a bounded summary, never a full (possibly recursion-breaking) repr.
_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 80


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
                f"argument {argument.name!r} should be a string, got {_brief.repr(value)}"
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
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, expected):
            return value
    else:
        return value  # A data type newer than this SDK: hand the value over untouched.
    raise ToolArgumentError(
        f"argument {argument.name!r} should be a {kind}, got {_brief.repr(value)}"
    )


def _error_output(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def _output(result: Any) -> str:
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class _Tool:
    name: str
    handler: Handler
    accepts: frozenset[str] | None
    """Parameter names the handler takes; ``None`` when it takes ``**kwargs``."""
    is_async: bool


class ToolRouter:
    """A registry of client tools, answered by name.

    >>> tools = ToolRouter()
    >>> @tools.tool()
    ... def get_weather(city: str) -> dict[str, object]:
    ...     return {"city": city, "sky": "sunny"}

    Arguments arrive as keyword arguments, converted by their ``dataType``
    (string, number, boolean, object, array); arguments the handler does not
    declare are dropped unless it takes ``**kwargs``. A str result is sent as
    is, anything else as JSON. A handler that raises, an unknown tool and a bad
    argument all answer with ``{"error": "..."}`` so the agent can say what went
    wrong; none of them ends the session.
    """

    def __init__(self) -> None:
        self._tools: dict[str, _Tool] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRouter({sorted(self._tools)})"

    def add(self, name: str, handler: Handler) -> None:
        """Register ``handler`` (a function or coroutine function) as tool ``name``."""
        if not name:
            raise ValueError("A tool needs a name.")
        if not callable(handler):
            raise TypeError(f"Tool {name!r}: handler must be callable.")
        parameters = inspect.signature(handler).parameters.values()
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
        accepts = None if takes_any else frozenset(p.name for p in parameters)
        is_async = inspect.iscoroutinefunction(handler)
        self._tools[name] = _Tool(name, handler, accepts, is_async)

    @overload
    def tool(self, name: H) -> H: ...
    @overload
    def tool(self, name: str | None = None) -> Callable[[H], H]: ...
    def tool(self, name: str | H | None = None) -> H | Callable[[H], H]:
        """Decorator registering a tool under ``name`` (default: the function's name).

        Works bare (``@tools.tool``) or called (``@tools.tool("get_weather")``).
        """
        if callable(name):
            self.add(name.__name__, name)
            return name

        def register(handler: H) -> H:
            self.add(name or handler.__name__, handler)
            return handler

        return register

    def _prepare(self, call: ToolCall) -> tuple[_Tool, dict[str, Any]] | str:
        """The tool and its keyword arguments, or the error output to send."""
        tool = self._tools.get(call.tool_name)
        if tool is None:
            log.warning("The agent called unknown tool %r.", call.tool_name)
            return _error_output(f"Unknown tool {call.tool_name!r}.")
        try:
            # An argument without a name cannot be passed as a keyword.
            kwargs = {a.name: _coerce(a) for a in call.arguments if a.name is not None}
        except ToolArgumentError as exc:
            log.warning("Tool %r: %s", call.tool_name, exc)
            return _error_output(f"Tool {call.tool_name!r}: {exc}.")
        if tool.accepts is not None:
            dropped = set(kwargs) - tool.accepts
            if dropped:
                log.debug("Tool %r ignores argument(s) %s.", call.tool_name, sorted(dropped))
            kwargs = {k: v for k, v in kwargs.items() if k in tool.accepts}
        return tool, kwargs

    def _failed(self, call: ToolCall, exc: BaseException) -> str:
        log.exception("Tool %r failed.", call.tool_name, exc_info=exc)
        return _error_output(f"Tool {call.tool_name!r} failed: {type(exc).__name__}: {exc}")

    def call(self, call: ToolCall) -> str:
        """Run the tool for ``call`` in this thread and return the output to send.

        A coroutine handler is run to completion on a fresh event loop.
        """
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return prepared
        tool, kwargs = prepared
        try:
            result = tool.handler(**kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            return _output(result)
        except Exception as exc:
            return self._failed(call, exc)

    async def acall(self, call: ToolCall) -> str:
        """Run the tool for ``call`` and return the output to send.

        Coroutine handlers are awaited; plain functions run in a worker thread
        so a slow one never blocks the event loop.
        """
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return prepared
        tool, kwargs = prepared
        try:
            if tool.is_async:
                result = await tool.handler(**kwargs)
            else:
                result = await asyncio.to_thread(tool.handler, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            return _output(result)
        except Exception as exc:
            return self._failed(call, exc)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
