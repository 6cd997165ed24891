"""Reconnect against a server of the test's own, written on raw sockets, that
keeps dropping the connection or refusing the redial: the attempts stop at
``max_attempts``, the waits are the promised backoff (an injected sleep, so
nothing waits for real), memory stays bounded, and no fresh token leaks."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import secrets
import socket
import threading
from collections.abc import Callable

import pytest

import vatel
from _flavours import STARTED, Flavour, message, peak_memory, unmasked_text_frame
from vatel._events import Reconnected, Reconnecting
from vatel._reconnect import Reconnect

pytestmark = pytest.mark.timeout(30)

AGENT_ID = "00000000-0000-4000-8000-00000000a9e7"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Action = Callable[[socket.socket, str], None]
"""What the server does with connection number n: given the socket and the request line."""


def fake_jwt() -> str:
    """A token shaped like a session JWT, which the log watch looks for."""
    return "eyJhbGciOiJIUzI1NiJ9.eyJhZ2VudF9pZCI6ImEifQ." + secrets.token_urlsafe(16)


class RawServer:
    """A WebSocket endpoint on 127.0.0.1 by hand: each connection's fate is
    ``actions(n)`` for the n-th connection (0 first)."""

    def __init__(self, actions: Callable[[int], Action]) -> None:
        self.actions = actions
        self.request_lines: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.02)  # accept() wakes up to see the server stop
        self._stopping = False
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/connection?token={token}&agentId={AGENT_ID}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        n = 0
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            n += 1
            with conn:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                line, _, headers = request.decode("latin-1").partition("\r\n")
                self.request_lines.append(line)
                self.actions(n - 1)(conn, headers)


def upgrade(conn: socket.socket, headers: str) -> None:
    key = next(
        h.split(":", 1)[1].strip()
        for h in headers.split("\r\n")
        if h.lower().startswith("sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )


def start_then_hang_up(conn: socket.socket, headers: str) -> None:
    """Open the session, then end the TCP connection without a close frame."""
    upgrade(conn, headers)
    conn.sendall(unmasked_text_frame(STARTED))


def hang_up_at_once(conn: socket.socket, headers: str) -> None:
    """Accept the upgrade and end the TCP connection before any message."""
    upgrade(conn, headers)


def refuse(status: int) -> Action:
    def answer(conn: socket.socket, headers: str) -> None:
        # The body echoes the request, token included, as a careless server might.
        body = f"refused: {headers}".encode()
        conn.sendall(
            f"HTTP/1.1 {status} Refused\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    return answer


class Tokens:
    """A token source handing out a new fake JWT each time."""

    def __init__(self) -> None:
        self.given: list[str] = []

    def __call__(self) -> str:
        self.given.append(fake_jwt())
        return self.given[-1]


def policy(tokens: Tokens, sleeps: list[float], max_attempts: int) -> Reconnect:
    return Reconnect(
        token_source=tokens,
        max_attempts=max_attempts,
        backoff=0.5,
        max_backoff=2.0,
        jitter=0.5,
        sleep=sleeps.append,
        random=lambda: 0.5,
    )


def test_a_server_that_keeps_dropping_runs_out_of_attempts(flavour: Flavour) -> None:
    sleeps: list[float] = []
    tokens = Tokens()
    first = fake_jwt()
    with RawServer(lambda n: start_then_hang_up if n == 0 else hang_up_at_once) as server:
        session = flavour.connect(server.url(first), reconnect=policy(tokens, sleeps, 4))
        events: list[vatel.Event] = []
        with peak_memory(4), pytest.raises(vatel.ConnectionClosedError) as info:
            for event in session.iterate():
                events.append(event)
        requests = list(server.request_lines)
    assert isinstance(events[0], vatel.SessionStarted)
    expected: list[vatel.Event] = []
    for attempt in range(1, 5):
        expected.append(Reconnecting(attempt, 1006))
        expected.append(Reconnected(0.0))
    assert [type(e) for e in events[1:]] == [type(e) for e in expected]
    assert [e for e in events[1:] if isinstance(e, Reconnecting)] == expected[::2]
    # The backoff promised: 0.5 s doubling to the 2 s cap, each shortened by a quarter.
    assert sleeps == [0.375, 0.75, 1.5, 1.5]
    assert len(requests) == 5 and len(tokens.given) == 4
    for token, line in zip(tokens.given, requests[1:], strict=True):
        assert f"token={token}" in line
    error = info.value
    assert error.code == 1006 and isinstance(error.__cause__, vatel.ConnectionClosedError)
    assert session.conn.stats.reconnects == 4
    for token in [first, *tokens.given]:
        assert token not in repr(session.conn) and token not in session.conn.url
        assert token not in str(error) and token not in str(error.__cause__)


def test_a_redial_answered_with_503_is_retried_until_max_attempts(flavour: Flavour) -> None:
    sleeps: list[float] = []
    tokens = Tokens()
    with RawServer(lambda n: start_then_hang_up if n == 0 else refuse(503)) as server:
        session = flavour.connect(server.url(fake_jwt()), reconnect=policy(tokens, sleeps, 3))
        events: list[vatel.Event] = []
        with peak_memory(4), pytest.raises(vatel.ConnectionClosedError) as info:
            for event in session.iterate():
                events.append(event)
        connections = len(server.request_lines)
    assert events[1:] == [Reconnecting(1, 1006), Reconnecting(2, 1006), Reconnecting(3, 1006)]
    assert sleeps == [0.375, 0.75, 1.5] and connections == 4
    cause = info.value.__cause__
    assert isinstance(cause, vatel.InternalServerError) and cause.status_code == 503
    assert cause.__context__ is None
    for token in tokens.given:
        assert token not in str(cause) and token not in repr(cause) and token not in cause.body
    assert session.conn.stats.reconnects == 0
    # Given up: a send raises instead of dropping the chunk.
    with pytest.raises(vatel.ConnectionClosedError):
        session.send_audio(bytes(960))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, vatel.AuthenticationError),
        (403, vatel.PermissionDeniedError),
        (404, vatel.NotFoundError),
    ],
)
def test_a_refused_redial_is_not_retried(
    flavour: Flavour, status: int, error: type[vatel.APIStatusError]
) -> None:
    sleeps: list[float] = []
    tokens = Tokens()
    with RawServer(lambda n: start_then_hang_up if n == 0 else refuse(status)) as server:
        session = flavour.connect(server.url(fake_jwt()), reconnect=policy(tokens, sleeps, 5))
        events: list[vatel.Event] = []
        with pytest.raises(error) as info:
            for event in session.iterate():
                events.append(event)
        connections = len(server.request_lines)
    assert events[1:] == [Reconnecting(1, 1006)] and sleeps == [0.375]
    assert connections == 2 and info.value.status_code == status
    assert tokens.given[0] not in str(info.value) and tokens.given[0] not in info.value.body


def test_a_closed_port_is_retried_as_a_network_drop(flavour: Flavour) -> None:
    sleeps: list[float] = []
    tokens = Tokens()
    server = RawServer(lambda n: start_then_hang_up)
    with server:
        session = flavour.connect(server.url(fake_jwt()), reconnect=policy(tokens, sleeps, 2))
        assert isinstance(session.recv(timeout=5), vatel.SessionStarted)
    # The listening socket is gone: every redial is refused by the kernel.
    assert session.recv(timeout=5) == Reconnecting(1, 1006)
    assert session.recv() == Reconnecting(2, 1006)
    with pytest.raises(vatel.ConnectionClosedError) as info:
        session.recv()
    assert isinstance(info.value.__cause__, vatel.APIConnectionError)
    assert sleeps == [0.375, 0.75]


def test_senders_on_other_threads_drop_while_the_receiver_redials() -> None:
    """A sync connection: one thread streams audio while the receiving thread
    redials; every chunk is either sent or counted as dropped, none raises."""
    release = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        release.wait(5)  # hold the connection down while the sender runs

    tokens = Tokens()
    with RawServer(lambda n: start_then_hang_up) as server:
        conn = vatel.connect(
            server.url(fake_jwt()),
            reconnect=Reconnect(token_source=tokens, sleep=sleep, max_attempts=2),
        )
        failures: list[BaseException] = []
        chunks = 200

        def stream() -> None:
            try:
                for _ in range(chunks):
                    conn.send_input_audio_bytes(bytes(960))
            except BaseException as exc:  # pragma: no cover - the failure is asserted
                failures.append(exc)
            finally:
                release.set()

        kinds = []
        sender = threading.Thread(target=stream)
        for event in conn:
            kinds.append(event.type)
            if len(kinds) == 1:
                sender.start()
            if event.type == "reconnected":
                break
        sender.join(10)
        conn.close()
    assert not failures
    assert kinds == ["session_started", "reconnecting", "reconnected"]
    stats = conn.stats
    assert stats.frames_sent + stats.audio_chunks_dropped == chunks
    assert stats.audio_chunks_dropped >= 1
    assert stats.audio_bytes_dropped == 960 * stats.audio_chunks_dropped


def start_and_stay(conn: socket.socket, headers: str) -> None:
    """Open the session and keep it open until the client closes it: the
    first thing it sends (in the test below) is its close frame, answered."""
    upgrade(conn, headers)
    conn.sendall(unmasked_text_frame(STARTED))
    with contextlib.suppress(OSError):
        if conn.recv(4096):
            conn.sendall(b"\x88\x02\x03\xe8")  # close 1000


def test_an_output_for_a_call_of_the_old_session_is_not_sent_into_the_new_one(
    flavour: Flavour, caplog: pytest.LogCaptureFixture
) -> None:
    call = message("tool_call", toolCallId="old-call", toolName="lookup", arguments=[])

    def first(conn: socket.socket, headers: str) -> None:
        upgrade(conn, headers)
        conn.sendall(unmasked_text_frame(STARTED) + unmasked_text_frame(call))

    sleeps: list[float] = []
    with RawServer(lambda n: first if n == 0 else start_and_stay) as server:
        session = flavour.connect(server.url(fake_jwt()), reconnect=policy(Tokens(), sleeps, 2))
        kinds = []
        for event in session.iterate():
            kinds.append(event.type)
            if kinds.count("session_started") == 2:
                break
        session.send_tool_output("old-call", "too late")
        stats = session.conn.stats.copy()
        session.close()
    assert kinds == [
        "session_started",
        "tool_call",
        "reconnecting",
        "reconnected",
        "session_started",
    ]
    assert stats.frames_sent == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'old-call'" in w and "Dropping" in w for w in warned)
