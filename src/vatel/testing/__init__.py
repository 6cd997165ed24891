"""Test helpers: the embedded mock Vatel server, scripted agents and a pytest plugin.

:class:`MockServer` is a real HTTP and WebSocket server on loopback that
follows the Vatel API contract: every REST operation on in-memory, seeded data,
and a deterministic voice agent on ``GET /v1/connection``. It needs the
``mock`` extra (``pip install 'vatel[mock]'``); names are loaded on first use,
and the first one read says so when the extra is missing.

Voice agent behaviour: it greets with the agent's ``first_message`` when there
is one; detects the caller's speech by energy on 20 ms frames; answers every
turn with ``speech_stopped``, an interim and a final ``input_audio_transcript``
(``"I said something for 1.2 seconds."``), ``response_text`` partials then the
final text, and ``response_audio`` chunks of 20 ms ending with ``is_final``.
Speech during the agent's audio stops it with ``interruption``. Client frames
that are not valid client messages are recorded in ``MockSession.received``
with ``error`` set and are otherwise ignored; the server never closes a session
because of them.

Scripted agents: :meth:`MockServer.script` makes the next session of an agent
play the given steps instead (:func:`say`, :func:`tool_call`,
:func:`expect_tool_output`, :func:`expect_audio`, :func:`listen`,
:func:`caller_says`, :func:`interrupt`, :func:`wait`, :func:`end`), and
:class:`Script` reports a failed step as a :class:`ScriptError`.

With the package installed, pytest gets the fixtures ``vatel_mock``,
``vatel_client`` and ``vatel_async_client`` (see
:mod:`vatel.testing._pytest_plugin`).
"""

from __future__ import annotations

import importlib

# Not ``typing.TYPE_CHECKING``: the pytest plugin imports this package in every
# test run, and must stay cheap. Type checkers treat this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._faults import Faults, MalformedKind
    from ._records import Message, MockSession, RecordedRequest, ToolOutput
    from ._script import (
        Script,
        ScriptError,
        Step,
        caller_says,
        end,
        expect_audio,
        expect_tool_output,
        interrupt,
        listen,
        say,
        tool_call,
        wait,
    )
    from ._server import MockServer, serve

__all__ = [
    "Faults",
    "MalformedKind",
    "Message",
    "MockServer",
    "MockSession",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "Step",
    "ToolOutput",
    "caller_says",
    "end",
    "expect_audio",
    "expect_tool_output",
    "interrupt",
    "listen",
    "say",
    "serve",
    "tool_call",
    "wait",
]

_SCRIPT_NAMES = (
    "Script",
    "ScriptError",
    "Step",
    "caller_says",
    "end",
    "expect_audio",
    "expect_tool_output",
    "interrupt",
    "listen",
    "say",
    "tool_call",
    "wait",
)

# Where each public name lives; modules are imported when a name is first used.
_LOCATIONS: dict[str, str] = {
    **dict.fromkeys(_SCRIPT_NAMES, "._script"),
    "Faults": "._faults",
    "MalformedKind": "._faults",
    "Message": "._records",
    "MockSession": "._records",
    "RecordedRequest": "._records",
    "ToolOutput": "._records",
    "MockServer": "._server",
    "serve": "._server",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'vatel.testing' has no attribute {name!r}")
    # Raises ImportError, with the install command, when the mock extra is missing.
    importlib.import_module("._deps", __name__)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
