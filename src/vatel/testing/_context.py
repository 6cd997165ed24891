"""What every handler of one server shares, reachable from the aiohttp app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ._faults import Faults
from ._records import MockSession, RecordedRequest
from ._script import ScriptBook
from ._state import State
from ._tokens import TokenIssuer

if TYPE_CHECKING:
    from ._voice_agent import VoiceAgent


@dataclass
class ServerContext:
    """One mock server's data, settings and live sessions."""

    state: State
    tokens: TokenIssuer
    faults: Faults
    api_key: str
    pace: float
    idle_timeout: float | None
    stopping: asyncio.Event
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], Awaitable[object]] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: list[MockSession] = field(default_factory=list)
    live: set[VoiceAgent] = field(default_factory=set)
    scripts: ScriptBook = field(default_factory=ScriptBook)
    session_added: threading.Condition = field(default_factory=threading.Condition)

    def add_session(self, session: MockSession) -> None:
        with self.session_added:
            self.sessions.append(session)
            self.session_added.notify_all()


CONTEXT = web.AppKey("vatel_testing_context", ServerContext)

BODY_FAULT: ContextVar[str | None] = ContextVar("vatel_testing_body_fault", default=None)
"""``"reset"`` or ``"truncate"`` while a handler that streams its body must apply that fault."""


def context(request: web.Request) -> ServerContext:
    """The server context of the app handling ``request``."""
    return request.app[CONTEXT]
