"""MockServer: the mock API on a loopback port, served from a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl as ssl_module
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from . import _sounds
from ._app import build_app
from ._context import ServerContext
from ._defaults import client_tool_node
from ._faults import Faults
from ._records import MockSession, RecordedRequest
from ._script import DEFAULT_STEP_TIMEOUT, Script, Step
from ._seed import build_state
from ._tokens import TokenIssuer

logger = logging.getLogger("vatel.testing")

SHUTDOWN_TIMEOUT = 5.0
"""Seconds :meth:`MockServer.stop` gives open sessions and requests to finish."""


class MockServer:
    """A real HTTP and WebSocket server on loopback that follows the Vatel API contract.

    Use it as a context manager, sync (``with``) or async (``async with``); either
    way it runs in a background thread with its own event loop, so it never
    blocks the caller's loop. ``pace`` is the speed of the agent's audio
    relative to real time (0: as fast as possible). ``seed`` fills the server
    with sample agents, calls and telephony. A voice session is ended
    (``session_ended``, close 1000) once ``idle_timeout`` seconds pass with no
    client message and no agent audio (``None``: never). Session tokens live
    ``token_ttl`` seconds. With ``ssl`` (a server-side :class:`ssl.SSLContext`) it
    serves HTTPS and WSS instead of plain HTTP and WS. ``clock`` and ``sleep``
    (an async callable) are what the pacing of the agent's audio reads the time
    from and waits with, the server loop's clock and :func:`asyncio.sleep` by
    default: pass your own to run the pacing on simulated time.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        pace: float = 1.0,
        seed: bool = True,
        idle_timeout: float | None = 30.0,
        token_ttl: float = 900.0,
        ssl: ssl_module.SSLContext | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if pace < 0:
            raise ValueError("pace must not be negative")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive (or None)")
        self.api_key = api_key or "vk_test_" + secrets.token_urlsafe(24)
        self.host = host
        self.pace = pace
        self._ssl = ssl
        self.faults = Faults()
        """Fault switches; see :class:`~vatel.testing.Faults`."""
        self._port = port
        self._bound_port: int | None = None
        state, self._seeded = build_state(seed)
        self._ctx = ServerContext(
            state=state,
            tokens=TokenIssuer(token_ttl),
            faults=self.faults,
            api_key=self.api_key,
            pace=pace,
            idle_timeout=idle_timeout,
            stopping=asyncio.Event(),
            clock=clock,
            sleep=sleep,
        )
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._bound_port is not None else "stopped"
        return f"<MockServer {where}>"

    # Lifecycle

    def start(self) -> MockServer:
        """Start serving (no-op when already running); returns the server."""
        with self._lifecycle:
            if self._thread is not None:
                return self
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._serve, args=(ready, failure), name="vatel-mock-server", daemon=True
            )
            thread.start()
            ready.wait()
            if failure:
                thread.join()
                raise failure[0]
            self._thread = thread
        return self

    def stop(self) -> None:
        """Close every open voice session (close code 1001), stop serving and
        join the thread. Safe to call more than once."""
        with self._lifecycle:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
                self._thread = self._loop = None
                self._bound_port = None

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                _sounds.warm()
                loop.run_until_complete(self._startup())
            except BaseException as exc:
                failure.append(exc)
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
        finally:
            ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self._ctx.stopping = asyncio.Event()
        # No access log: the voice URL's query string carries a session token.
        runner = web.AppRunner(
            build_app(self._ctx), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port, ssl_context=self._ssl)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        logger.info("mock Vatel server listening on %s", self.base_url)

    async def _shutdown(self) -> None:
        self._ctx.stopping.set()
        agents = list(self._ctx.live)
        for agent in agents:
            agent.request_end(1001, "server shutting down", announce=False)
        if agents:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(a.finished.wait() for a in agents)), SHUTDOWN_TIMEOUT
                )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MockServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # Where it is and what it holds

    @property
    def port(self) -> int:
        """The TCP port the server listens on (chosen by the OS when ``port=0``)."""
        if self._bound_port is None:
            raise RuntimeError("the mock server is not running")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` (``https://`` with TLS), for the SDK's ``base_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The voice WebSocket URL without its query string."""
        return "ws" + self.base_url[len("http") :] + "/v1/connection"

    @property
    def organization_id(self) -> str:
        return self._ctx.state.org_id

    @property
    def agent_ids(self) -> list[str]:
        """The seeded agents: ``[front_desk, order_status]`` (empty when ``seed=False``).

        Front Desk is active, has a Twilio number and a ``first_message``; Order
        Status has no opening line and is assigned to the seeded SIP trunk.
        """
        return list(self._seeded.agent_ids)

    @property
    def foreign_agent_id(self) -> str:
        """An agent of another organization: invisible over REST, 403 for session tokens."""
        return self._seeded.foreign_agent_id

    @property
    def phone_number_id(self) -> str:
        """The seeded Twilio number (``""`` when ``seed=False``)."""
        return self._seeded.phone_number_id

    @property
    def sip_trunk_id(self) -> str:
        """The seeded SIP trunk (``""`` when ``seed=False``)."""
        return self._seeded.sip_trunk_id

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request so far, oldest first (voice handshakes are not included)."""
        return list(self._ctx.requests)

    def clear_requests(self) -> None:
        """Forget the recorded REST requests."""
        self._ctx.requests.clear()

    @property
    def sessions(self) -> list[MockSession]:
        """Every voice session so far, in connection order."""
        return list(self._ctx.sessions)

    def wait_for_session(self, count: int = 1, *, timeout: float = 5.0) -> MockSession:
        """Block until ``count`` sessions have connected; the ``count``-th one.

        Raises ``TimeoutError`` when ``timeout`` runs out first.
        """
        added = self._ctx.session_added
        with added:
            if not added.wait_for(lambda: len(self._ctx.sessions) >= count, timeout):
                raise TimeoutError(f"fewer than {count} voice sessions after {timeout} s")
            return self._ctx.sessions[count - 1]

    async def wait_for_session_async(self, count: int = 1, *, timeout: float = 5.0) -> MockSession:
        """:meth:`wait_for_session` for async tests; does not block the event loop."""
        return await asyncio.to_thread(self.wait_for_session, count, timeout=timeout)

    # Control

    def end_session(self, session_id: str | None = None) -> None:
        """End one open session (``None``: all): ``session_ended``, then close 1000.

        Returns at once; ``MockSession.wait_closed`` waits for the end. Raises
        ``KeyError`` for an id no session ever had.
        """
        sessions = self.sessions
        if session_id is not None:
            sessions = [s for s in sessions if s.id == session_id]
            if not sessions:
                raise KeyError(session_id)
        for session in sessions:
            session.end()

    def add_client_tool(
        self,
        agent_id: str,
        name: str,
        *,
        arguments: list[dict[str, Any]],
        description: str = "",
    ) -> str:
        """Add a client-tool node to the agent's active version; returns the node id.

        Each argument is a ``VoiceSessionInputVariable``: ``name`` is required,
        ``value`` defaults to an example of its ``dataType``. The next user turn
        of a session on that version asks the client to run the tool.
        """
        node = client_tool_node(name, arguments, description)
        state = self._ctx.state
        with state.lock:
            agent = state.agents.get(agent_id)
            if agent is None:
                raise KeyError(agent_id)
            agent.versions[agent.active_version_id].nodes.append(node)
        return str(node["id"])

    def script(
        self,
        agent_id: str | None,
        steps: Iterable[Step],
        *,
        timeout: float = DEFAULT_STEP_TIMEOUT,
    ) -> Script:
        """Script the next voice session of ``agent_id`` (``None``: of any agent).

        ``steps`` are made with :func:`~vatel.testing.say`,
        :func:`~vatel.testing.tool_call`, :func:`~vatel.testing.expect_tool_output`
        and the other step functions of :mod:`vatel.testing`; ``timeout`` is
        what a waiting step gives the app unless it has its own. Scripts for one
        agent queue up and each is taken by one session, in order. Returns the
        :class:`~vatel.testing.Script`, whose :meth:`~vatel.testing.Script.wait`
        raises :class:`~vatel.testing.ScriptError` if a step fails. Raises
        ``KeyError`` for an agent the server does not have, and ``TypeError`` or
        ``ValueError`` for steps that cannot run (an ``expect_tool_output``
        with no ``tool_call`` before it, ``end()`` before the last step).
        """
        if agent_id is not None:
            agent_id = agent_id.lower()
            state = self._ctx.state
            with state.lock:
                if agent_id not in state.agents:
                    raise KeyError(agent_id)
        script = Script(agent_id, steps, timeout=timeout)
        self._ctx.scripts.add(script)
        return script

    @property
    def scripts(self) -> list[Script]:
        """Every script given so far, in order, taken by a session or not."""
        return self._ctx.scripts.given()

    def clear_scripts(self) -> None:
        """Forget the scripts no session has taken yet."""
        self._ctx.scripts.clear()

    def issue_token(
        self,
        agent_id: str,
        *,
        version_id: str | None = None,
        ttl: float | None = None,
        first_message: str | None = None,
        prompt: str | None = None,
        chat: bool = False,
    ) -> str:
        """Mint a session token for this server's organization without a REST call.

        Any ``agent_id`` is accepted (unknown or foreign ones make the handshake
        fail as it should); ``ttl`` may be negative for an already-expired token.
        """
        state = self._ctx.state
        with state.lock:
            agent = state.agents.get(agent_id)
            version = version_id or (agent.active_version_id if agent else None)
        parameters = {
            key: value
            for key, value in (("first_message", first_message), ("prompt", prompt))
            if value is not None
        }
        return self._ctx.tokens.issue(
            agent_id=agent_id,
            version_id=version,
            organization_id=state.org_id,
            chat=chat,
            parameters=parameters,
            ttl=ttl,
        )

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: float | str | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Shortcut for :meth:`Faults.fail_next`."""
        self.faults.fail_next(
            count, status, retry_after=retry_after, body=body, method=method, path=path
        )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    pace: float = 1.0,
) -> None:
    """Run a seeded mock server until Ctrl-C, after printing how to reach it."""
    with MockServer(host=host, port=port, api_key=api_key, pace=pace) as server:
        print(f"Mock Vatel API listening on {server.base_url}")
        print(f"API key: {server.api_key}")
        for agent_id in server.agent_ids:
            print(f"Agent:   {agent_id}")
        print("Press Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
