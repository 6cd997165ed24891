"""What the mock server records for tests to inspect."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the server received it.

    ``headers`` has lower-case names and never the credential headers
    (``Authorization``, ``API-Key``); ``json`` is the parsed body, or ``None``
    when there was none or it was not JSON; ``status`` is the status answered.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int


@dataclass(frozen=True)
class Message:
    """One WebSocket message of a voice session, in either direction.

    Well-formed messages have ``type`` and ``data`` as on the wire. A frame the
    server rejected, or a malformed one it sent on purpose, has ``error`` set,
    ``type``/``data`` as far as they could be read, and ``raw`` holding up to
    256 characters (or bytes) of the frame itself.
    """

    type: str | None
    data: Any
    error: str | None = None
    raw: str | bytes | None = None


@dataclass(frozen=True)
class ToolOutput:
    """A ``tool_call_output`` the client sent; ``known`` is false when its
    ``toolCallId`` matched no pending ``tool_call`` (it was then ignored)."""

    tool_call_id: str
    output: str
    known: bool


class MockSession:
    """One voice session, live or ended, as the mock server saw it.

    The lists grow while the session runs; every read returns a copy. Once
    :meth:`wait_closed` has returned ``True`` nothing changes any more.
    """

    def __init__(
        self,
        *,
        id: str,
        agent_id: str,
        version_id: str,
        scopes: tuple[str, ...],
        first_message: str,
        prompt: str,
    ) -> None:
        self.id = id
        """The session (and call) id sent in ``session_started``."""
        self.agent_id = agent_id
        self.version_id = version_id
        self.scopes = scopes
        self.first_message = first_message
        """The opening line in force (the token's override, else the agent's)."""
        self.prompt = prompt
        self.close_code: int | None = None
        """The close code of the connection: the one the server sent when it
        closed, the client's when the client closed, 1006 when the TCP
        connection ended without a close frame."""
        self._received: list[Message] = []
        self._sent: list[Message] = []
        self._audio = bytearray()
        self._tool_outputs: list[ToolOutput] = []
        self._closed = threading.Event()
        self._end: Callable[[], None] | None = None

    def __repr__(self) -> str:
        state = f"closed {self.close_code}" if self.closed else "open"
        return f"<MockSession {self.id} agent={self.agent_id} {state}>"

    @property
    def received(self) -> list[Message]:
        """Every client frame, in arrival order, rejected ones included."""
        return list(self._received)

    @property
    def rejected(self) -> list[Message]:
        """The client frames that were not valid client messages (and were ignored)."""
        return [m for m in self._received if m.error is not None]

    @property
    def received_audio(self) -> bytes:
        """All decoded ``input_audio`` PCM, concatenated in arrival order."""
        return bytes(self._audio)

    @property
    def sent(self) -> list[Message]:
        """Every message the server sent, in order (injected faulty frames included)."""
        return list(self._sent)

    @property
    def tool_outputs(self) -> list[ToolOutput]:
        return list(self._tool_outputs)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float | None = 5.0) -> bool:
        """Block until the session has ended; ``False`` if ``timeout`` ran out first."""
        return self._closed.wait(timeout)

    async def wait_closed_async(self, timeout: float | None = 5.0) -> bool:
        """:meth:`wait_closed` for async tests; does not block the event loop."""
        return await asyncio.to_thread(self._closed.wait, timeout)

    def end(self) -> None:
        """Ask the server to end this session: ``session_ended``, then close 1000.

        Returns at once; use :meth:`wait_closed` to wait for the end.
        """
        if self._end is not None and not self.closed:
            self._end()
