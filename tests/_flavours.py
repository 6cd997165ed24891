"""One voice-session scenario, driven through ``vatel.Connection`` or ``vatel.AsyncConnection``.

A test written against :class:`Flavour` and :class:`Session` runs the same steps
on both APIs: every call here blocks until it is done. The async flavour runs
each step on an event loop of its own (fresh for each test), so the test body
stays plain, synchronous code; nothing may call a :class:`Session` method from
inside a running step (an ``on_event`` callback of :meth:`Session.run`, say).

:class:`ScriptedServer` is a voice server of the test's own on 127.0.0.1
(``websockets``' asyncio server on a thread of its own): each connection runs the
test's script, which may misbehave as the test needs, synchronised with the test
through gates (test to server) and marks (server to test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from websockets.asyncio.server import ServerConnection, serve

import vatel
from _support import memory_bound

T = TypeVar("T")

AGENT_ID = "00000000-0000-4000-8000-00000000a9e7"
TOKEN = "tok_scripted_0123456789abcdef"


def message(type_: str, **data: Any) -> str:
    """A server message as it travels."""
    return json.dumps({"type": type_, "data": data})


STARTED = message("session_started", id="scripted-session")
ENDED = message("session_ended")


class Endpoint(Protocol):
    """Where a client goes: a ``MockServer``, or an :class:`Address`."""

    @property
    def api_key(self) -> str: ...
    @property
    def base_url(self) -> str: ...


@dataclass(frozen=True)
class Address:
    api_key: str
    base_url: str


# -- the two flavours ------------------------------------------------------------------


class Session:
    """A live session of either flavour; every method blocks until done."""

    def __init__(self, conn: vatel.Connection | vatel.AsyncConnection, flavour: Flavour) -> None:
        self.conn = conn
        self._flavour = flavour

    def __repr__(self) -> str:
        return f"<Session {self._flavour.name} {self.conn!r}>"

    def recv(self, timeout: float | None = None) -> vatel.Event:
        return self._flavour._step(self.conn.recv(timeout))

    def send_audio(self, pcm: bytes) -> None:
        self._flavour._step(self.conn.send_input_audio_bytes(pcm))

    def send_audio_base64(self, audio: str) -> None:
        self._flavour._step(self.conn.send_input_audio(audio))

    def send_tool_output(self, tool_call_id: str, output: Any) -> None:
        self._flavour._step(self.conn.send_tool_call_output(tool_call_id, output))

    def iterate(self) -> Iterator[vatel.Event]:
        """``for event in conn`` / ``async for event in conn``, one event per step."""
        if isinstance(self.conn, vatel.Connection):
            yield from self.conn
            return
        events = self.conn.__aiter__()
        try:
            while True:
                try:
                    event = self._flavour._step(events.__anext__())
                except StopAsyncIteration:
                    return
                yield event
        finally:
            self._flavour._step(events.aclose())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._flavour._step(self.conn.close(code, reason))

    def run(
        self,
        tools: vatel.ToolRouter | None = None,
        on_event: Callable[[vatel.Event], object] | None = None,
        **options: Any,
    ) -> None:
        """``conn.run(...)``; ``on_event`` is called in the flavour's own way."""
        if isinstance(self.conn, vatel.Connection):
            self.conn.run(tools, on_event, **options)
        else:
            self._flavour._step(self.conn.run(tools, on_event, **options))

    def run_interrupted(
        self, tools: vatel.ToolRouter | None, when: Callable[[vatel.Event], bool]
    ) -> bool:
        """Run the session and stop it the way a user would once ``when(event)``
        holds: Ctrl-C (``KeyboardInterrupt``) in a blocking program, cancelling
        the task in asyncio. True when ``run`` ended by that interruption (it
        neither swallowed it nor returned first)."""
        if isinstance(self.conn, vatel.Connection):

            def interrupt(event: vatel.Event) -> None:
                if when(event):
                    raise KeyboardInterrupt

            try:
                self.conn.run(tools, interrupt)
            except KeyboardInterrupt:
                return True
            return False
        conn = self.conn

        async def cancel_run() -> bool:
            loop = asyncio.get_running_loop()
            task: asyncio.Task[None] | None = None

            def interrupt(event: vatel.Event) -> None:
                if when(event) and task is not None:
                    loop.call_soon(task.cancel)  # lands in the next await of run()

            task = loop.create_task(conn.run(tools, interrupt))
            await asyncio.wait({task})
            if task.cancelled():
                return True
            task.result()
            return False

        return self._flavour._step(cancel_run())


class Flavour:
    """Opens sessions with the sync or the async API; :meth:`finish` closes them all."""

    def __init__(self, name: str) -> None:
        assert name in ("sync", "async")
        self.name = name
        self.is_async = name == "async"
        self._loop = asyncio.new_event_loop() if self.is_async else None
        self._sessions: list[Session] = []
        self._clients: list[vatel.Client | vatel.AsyncClient] = []

    def __repr__(self) -> str:
        return self.name

    def _step(self, step: Awaitable[T] | T) -> T:
        """The value of one call: awaited on this flavour's loop when async."""
        if self._loop is None:
            return step  # type: ignore[return-value]
        assert asyncio.iscoroutine(step) or isinstance(step, Awaitable)
        return self._loop.run_until_complete(_awaited(step))

    def _track(self, conn: vatel.Connection | vatel.AsyncConnection) -> Session:
        session = Session(conn, self)
        self._sessions.append(session)
        return session

    def connect(self, url: str, **options: Any) -> Session:
        """``vatel.connect(url)`` / ``await vatel.connect_async(url)``."""
        if self._loop is None:
            return self._track(vatel.connect(url, **options))
        return self._track(self._step(vatel.connect_async(url, **options)))

    def client(self, server: Endpoint) -> vatel.Client | vatel.AsyncClient:
        """A client of this flavour for ``server`` (closed by :meth:`finish`)."""
        cls = vatel.AsyncClient if self.is_async else vatel.Client
        client = cls(api_key=server.api_key, base_url=server.base_url)
        self._clients.append(client)
        return client

    def open(
        self,
        server: Endpoint,
        token: vatel.SessionToken | str,
        *,
        agent_id: str | None = None,
        **options: Any,
    ) -> Session:
        """``client.connect(token)`` through a client of this flavour."""
        client = self.client(server)
        return self._track(self._step(client.connect(token, agent_id=agent_id, **options)))

    def finish(self) -> None:
        """Close every session and client opened, then the event loop."""
        try:
            for session in self._sessions:
                with contextlib.suppress(Exception):
                    session.close()
            for client in self._clients:
                with contextlib.suppress(Exception):
                    self._step(client.close())
        finally:
            if self._loop is not None:
                loop, self._loop = self._loop, None
                _close_loop(loop)


async def _awaited(step: Awaitable[T]) -> T:
    return await step


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


# -- a server of the test's own ---------------------------------------------------------


Script = Callable[[ServerConnection, "ScriptedServer"], Coroutine[Any, Any, None]]


class ScriptedServer:
    """A voice server on 127.0.0.1 that runs ``script(ws, server)`` on each connection.

    The script may stop at ``await server.gate(name)`` until the test calls
    :meth:`open_gate`, and tell the test where it is with :meth:`mark` (waited
    for with :meth:`wait_mark`). Frames the script reads with :meth:`serve_until_closed`
    land in :attr:`received`; a script that raised is re-raised when the server stops.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[str | bytes] = []
        self.close_codes: list[int | None] = []
        self.errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._gates: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._marks: dict[str, threading.Event] = {}
        self._marks_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None
        self.port = 0

    def url(self, token: str = TOKEN) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/connection?token={token}&agentId={AGENT_ID}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()

        async def start() -> Any:
            return await serve(self._handle, "127.0.0.1", 0, max_size=None)

        self._server = self._call(start())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            # A script still waiting at a gate (the test failed before opening it)
            # must not hold up the server's end.
            self._stopping = True
            for gate in self._gates.values():
                gate.set()
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 5)

        try:
            self._call(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()
        if self.errors and exc[0] is None:
            raise AssertionError(f"the server's script failed: {self.errors[0]!r}")

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            await self.script(ws, self)
        except Exception as exc:  # a closed connection is the client's doing, not a failure
            if not type(exc).__module__.startswith("websockets"):
                self.errors.append(exc)
        finally:
            self.close_codes.append(ws.close_code)

    # -- synchronisation ---------------------------------------------------------------

    def _gate(self, name: str) -> asyncio.Event:
        gate = self._gates.setdefault(name, asyncio.Event())
        if self._stopping:
            gate.set()
        return gate

    async def gate(self, name: str) -> None:
        """In the script: wait until the test opens gate ``name``."""
        await self._gate(name).wait()

    def open_gate(self, name: str) -> None:
        """From the test: let the script past gate ``name``."""
        self._loop.call_soon_threadsafe(lambda: self._gate(name).set())

    def _mark(self, name: str) -> threading.Event:
        with self._marks_lock:
            return self._marks.setdefault(name, threading.Event())

    def mark(self, name: str) -> None:
        """In the script: tell the test that point ``name`` is reached."""
        self._mark(name).set()

    def wait_mark(self, name: str, timeout: float = 5) -> None:
        """From the test: wait for the script to reach ``name``; fail if it does not."""
        assert self._mark(name).wait(timeout), f"the server never reached {name!r}"

    async def serve_until_closed(self, ws: ServerConnection) -> None:
        """In the script: record the client's frames until it closes."""
        with contextlib.suppress(Exception):
            async for frame in ws:
                self.received.append(frame)

    def received_messages(self) -> list[dict[str, Any]]:
        """The client's text frames, parsed."""
        return [json.loads(frame) for frame in self.received if isinstance(frame, str)]


def unmasked_text_frame(text: str) -> bytes:
    """A whole server text frame (RFC 6455: final, unmasked), to write in pieces."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


# -- a memory bound ---------------------------------------------------------------------


peak_memory = memory_bound
"""Fail unless the Python allocations made inside stay under the bound, in MiB."""
