"""The voice-session transport against servers of the test's own that misbehave on
purpose: flooding instead of answering a close, no longer reading, vanishing
without a FIN, echoing the token, redirecting, refusing with ``Retry-After``.
Every promise is held by both connections, sync and async, bounded in time
(pytest-timeout) and in memory (tracemalloc)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time

import pytest
from hostile_voice_support import (
    ENDED,
    STARTED,
    TEXT,
    ChildServer,
    HostileServer,
    Peer,
    RecordingProxy,
    Session,
    frame_bytes,
    open_session,
    polite,
    refused,
    session_url,
    texts_of,
    traced_memory,
)

import vatel

pytestmark = pytest.mark.anyio

FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])
MiB = 2**20
AUDIO_FRAME = '{"type":"response_audio","data":{"turn_id":"t1","audio":"%s","is_final":false}}'


# -- 1. close() while the server floods instead of answering -------------------------------


class Flood:
    """Greets, then reads (and ignores) whatever the client sends, its close
    frame included, while sending audio frames as fast as the socket takes them."""

    def __init__(self) -> None:
        self.frame = (AUDIO_FRAME % ("A" * 8000)).encode()
        self.sent_after_close = 0
        self.close_seen = threading.Event()

    def __call__(self, peer: Peer) -> None:
        peer.handshake()
        peer.send_text(STARTED)
        threading.Thread(target=self._swallow, args=(peer,), daemon=True).start()
        data = frame_bytes(TEXT, self.frame)
        while True:
            peer.sock.sendall(data)
            if self.close_seen.is_set():
                self.sent_after_close += len(data)

    def _swallow(self, peer: Peer) -> None:
        try:
            while chunk := peer.sock.recv(65536):
                if b"\x88" in chunk:  # the first byte of a close frame from the client
                    self.close_seen.set()
        except OSError:
            pass


@FLAVOURS
@pytest.mark.timeout(20)
async def test_close_during_a_flood_returns_with_bounded_memory(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Frame-by-frame DEBUG records, which pytest keeps, would be counted too.
    caplog.set_level(logging.INFO, logger="vatel.websocket")
    flood = Flood()
    with HostileServer(flood) as server:
        session = await open_session(flavour, server.url(), close_timeout=1.0)
        assert isinstance(await session.recv(), vatel.SessionStarted)
        await asyncio.sleep(0.2)  # the queue fills and reading stops
        with traced_memory() as memory:
            await session.close()
        assert flood.close_seen.is_set(), "the server got our close frame and ignored it"
    conn = session.conn
    assert conn.closed
    # Our close frame went first; the server never answered it.
    assert (conn.close_code, conn.close_reason) == (1000, "")
    # Buffering what arrived would have held at least twice the bound.
    assert flood.sent_after_close > 6 * MiB, "the server flooded while we closed"
    assert memory.peak_growth < 3 * MiB, f"closing buffered {memory.peak_growth / MiB:.1f} MiB"


# -- 2. a server that stops reading ---------------------------------------------------------


def stops_reading(release: threading.Event) -> object:
    def behaviour(peer: Peer) -> None:
        peer.handshake()
        peer.send_text(STARTED)
        release.wait(30)  # never reads a byte the client sends

    return behaviour


async def send_until_it_fails(
    session: Session, sent: list[int] | None = None, limit: int = 4000
) -> BaseException:
    """Send 64 KiB chunks until a send raises (the socket's buffers hold a few
    MiB); ``sent`` counts those that went through."""
    chunk = bytes(64 * 1024)
    for n in range(limit):
        try:
            await session.send_audio(chunk)
        except vatel.APIError as exc:
            return exc
        if sent is not None:
            sent.append(n)
    raise AssertionError(f"{limit} chunks were taken by a server that reads nothing")


@FLAVOURS
@pytest.mark.timeout(30)
async def test_a_send_the_server_does_not_take_times_out(flavour: str) -> None:
    release = threading.Event()
    with HostileServer(stops_reading(release), rcvbuf=4096) as server:
        session = await open_session(
            flavour, server.url(), send_timeout=0.5, close_timeout=0.5, ping_interval=None
        )
        assert isinstance(await session.recv(), vatel.SessionStarted)
        with traced_memory() as memory:
            error = await send_until_it_fails(session)
        # The configured time-out ended the send, not a hang or a reset.
        assert isinstance(error, vatel.APITimeoutError), repr(error)
        assert "0.5 s" in str(error) and "send_timeout" in str(error)
        conn = session.conn
        assert conn.closed and conn.close_code == 1006
        with pytest.raises(vatel.ConnectionClosedError) as later:
            await session.send_audio(bytes(2))
        assert later.value.code == 1006
        await session.close()  # already closed: returns at once
        release.set()
    assert memory.peak_growth < 8 * MiB, f"sending buffered {memory.peak_growth / MiB:.1f} MiB"


@FLAVOURS
@pytest.mark.timeout(30)
async def test_close_from_elsewhere_ends_a_send_stuck_on_a_full_socket(flavour: str) -> None:
    """With no send time-out at all, a send blocks on the full socket; close() from
    another thread or task still returns (it aborts the connection) and the stuck
    send raises ConnectionClosedError."""
    release = threading.Event()
    with HostileServer(stops_reading(release), rcvbuf=4096) as server:
        session = await open_session(
            flavour, server.url(), send_timeout=None, close_timeout=0.5, ping_interval=None
        )
        assert isinstance(await session.recv(), vatel.SessionStarted)
        with traced_memory() as memory:
            sent: list[int] = []
            sender = asyncio.ensure_future(send_until_it_fails(session, sent))
            # Wait until the sends stop making progress: the socket is full.
            before = -1
            while not sender.done() and len(sent) != before:
                before = len(sent)
                await asyncio.sleep(0.5)
            assert not sender.done(), "a send failed on its own"
            await session.close()  # another thread (sync) or task (async)
            error = await sender
        release.set()
    assert isinstance(error, vatel.ConnectionClosedError), repr(error)
    assert not isinstance(error, vatel.APITimeoutError)
    assert session.conn.closed
    assert memory.peak_growth < 8 * MiB


# -- 3. a peer that vanished without a FIN ----------------------------------------------------


@FLAVOURS
@pytest.mark.timeout(20)
async def test_a_frozen_peer_is_detected_and_the_codes_agree(flavour: str) -> None:
    """The server process is stopped (SIGSTOP): its kernel keeps the connection,
    nothing answers. The keepalive fails the session with 1011 within
    ping_interval + ping_timeout + close_timeout, and the connection reports the
    very code and reason the exception carries."""
    options = {"ping_interval": 0.2, "ping_timeout": 0.3, "close_timeout": 0.3}
    with ChildServer() as child, traced_memory() as memory:
        session = await open_session(flavour, child.url(), **options)
        assert isinstance(await session.recv(), vatel.SessionStarted)
        os.kill(child.process.pid, signal.SIGSTOP)
        with pytest.raises(vatel.ConnectionClosedError) as info:
            await session.recv(timeout=10)  # far longer than the keepalive bound
    conn = session.conn
    assert (info.value.code, info.value.reason) == (1011, "keepalive ping timeout")
    assert conn.closed
    assert (conn.close_code, conn.close_reason) == (info.value.code, info.value.reason)
    assert memory.peak_growth < 4 * MiB


# -- 4. the token echoed back by the server --------------------------------------------------

TOKEN = "tok_" + "5ecre7" * 6  # short enough for a close reason, not shaped like a JWT


def echoes_the_token(peer: Peer) -> None:
    peer.handshake(extra_headers=(("X-Echo", TOKEN),))
    peer.send_text(STARTED)
    peer.send_text(f'{{"type": "echo", "data": {{"said": "{TOKEN}"}}}}')
    peer.send_text(f"not json at all, but {TOKEN}")
    peer.send_close(4000, f"bye {TOKEN}")
    peer.serve()


@FLAVOURS
@pytest.mark.timeout(20)
async def test_a_token_echoed_by_the_server_is_redacted_everywhere(
    flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with HostileServer(echoes_the_token) as server, traced_memory() as memory:
        session = await open_session(flavour, session_url(server.port, TOKEN))
        assert isinstance(await session.recv(), vatel.SessionStarted)
        echoed = await session.recv()
        assert isinstance(echoed, vatel.UnknownEvent)  # the data itself is the caller's
        with pytest.raises(vatel.ProtocolError) as malformed:
            await session.recv()
        with pytest.raises(vatel.ConnectionClosedError) as closed:
            await session.recv()
        await session.close()
    records = [r.getMessage() for r in caplog.records]
    assert any("X-Echo" in text for text in records), "websockets logged the headers"
    assert any("bye ***" in text for text in records), "and the close frame"
    assert not [text for text in records if TOKEN in text]
    assert closed.value.code == 4000 and closed.value.reason == "bye ***"
    assert session.conn.close_reason == "bye ***"
    for error in (malformed.value, closed.value):
        assert not [text for text in texts_of(error) if TOKEN in text], repr(error)
    assert TOKEN not in repr(session.conn) and TOKEN not in session.conn.url
    assert memory.peak_growth < 4 * MiB


# -- 5. a redirect --------------------------------------------------------------------------


@FLAVOURS
@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
@pytest.mark.timeout(20)
async def test_a_redirect_is_refused_and_the_token_goes_nowhere(flavour: str, status: str) -> None:
    elsewhere_seen: list[str] = []

    def elsewhere(peer: Peer) -> None:
        peer.read_request()
        elsewhere_seen.append(peer.request_line)

    with HostileServer(elsewhere) as other:
        location = session_url(other.port, TOKEN)

        def redirects(peer: Peer) -> None:
            peer.answer(status, (("Location", location),), b"")

        with HostileServer(redirects) as server, traced_memory() as memory:
            error = await refused(flavour, session_url(server.port, TOKEN), open_timeout=2)
    assert isinstance(error, vatel.APIStatusError), repr(error)
    assert error.status_code == int(status[:3])
    assert "redirect" in str(error) and f"127.0.0.1:{other.port}" in str(error)
    assert not elsewhere_seen, "the token was sent to the other address"
    assert not [text for text in texts_of(error) if TOKEN in text]
    assert memory.peak_growth < 4 * MiB


# -- 6. a refusal with Retry-After ------------------------------------------------------------


@FLAVOURS
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("429 Too Many Requests", vatel.RateLimitError),
        ("503 Unavailable", vatel.InternalServerError),
    ],
)
@pytest.mark.timeout(20)
async def test_retry_after_of_a_refused_handshake_is_kept(
    flavour: str, status: str, cls: type[vatel.APIStatusError]
) -> None:
    def busy(peer: Peer) -> None:
        body = b'{"error": "busy, retry later"}'
        peer.answer(status, (("Retry-After", "7"), ("Content-Type", "application/json")), body)

    with HostileServer(busy) as server, traced_memory() as memory:
        error = await refused(flavour, server.url(TOKEN))
    assert isinstance(error, cls), repr(error)
    assert error.retry_after == 7.0
    assert error.message == "busy, retry later"
    assert memory.peak_growth < 4 * MiB


# -- 7. proxies from the environment, by httpx's rules ----------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@FLAVOURS
@pytest.mark.parametrize(
    ("env", "options", "proxied"),
    [
        ({"HTTP_PROXY": "{proxy}"}, {}, True),
        ({"ALL_PROXY": "{proxy}"}, {}, True),
        ({"HTTPS_PROXY": "{proxy}"}, {}, False),  # a proxy for wss:// only
        ({"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, {}, False),
        ({"HTTP_PROXY": "{proxy}"}, {"trust_env": False}, False),
        ({}, {"trust_env": False, "proxy": "{proxy}"}, True),  # an explicit proxy wins
    ],
    ids=["http_proxy", "all_proxy", "https_only", "no_proxy", "trust_env_off", "explicit"],
)
@pytest.mark.timeout(20)
async def test_voice_follows_the_rest_clients_proxy_rules(
    flavour: str,
    clean_proxy_env: pytest.MonkeyPatch,
    env: dict[str, str],
    options: dict[str, object],
    proxied: bool,
) -> None:
    with RecordingProxy() as proxy, HostileServer(polite) as server, traced_memory() as memory:
        for name, value in env.items():
            clean_proxy_env.setenv(name, value.format(proxy=proxy.url))
        chosen = {
            k: v.format(proxy=proxy.url) if isinstance(v, str) else v for k, v in options.items()
        }
        session = await open_session(flavour, server.url(), **chosen)
        assert isinstance(await session.recv(), vatel.SessionStarted)
        await session.close()
    expected = [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"] if proxied else []
    assert proxy.requests == expected
    assert memory.peak_growth < 4 * MiB


# -- 8. the state right after the session ends ------------------------------------------------


def ends_then_closes_late(peer: Peer) -> None:
    peer.handshake()
    peer.send_text(STARTED)
    peer.send_text(ENDED)
    time.sleep(0.3)  # a server that takes its time to close after session_ended
    peer.send_close(1000)
    peer.serve()


@FLAVOURS
@pytest.mark.timeout(20)
async def test_closed_and_close_code_hold_when_the_loop_ends(flavour: str) -> None:
    with HostileServer(ends_then_closes_late) as server, traced_memory() as memory:
        session = await open_session(flavour, server.url())
        events = await session.events()
        conn = session.conn
        state = (conn.closed, conn.close_code, conn.close_reason)
    assert [e.type for e in events] == ["session_started", "session_ended"]
    assert state == (True, 1000, "")
    assert memory.peak_growth < 4 * MiB


# -- 9. a malformed URL -----------------------------------------------------------------------

SECRET = "tok_malformed_url_secret_42"
BAD_URLS = [
    f"ws://[::1/v1/connection?token={SECRET}",
    f"ws://127.0.0.1:99999/v1/connection?token={SECRET}",
    f"http://127.0.0.1/v1/connection?token={SECRET}",
    f"ws:///v1/connection?token={SECRET}",
    f"ws://127.0.0.1/v1/connection?token={SECRET}#part",
    f"ws://127.0.0.1/v1/con nection?token={SECRET}",
]


@FLAVOURS
@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
@pytest.mark.timeout(10)
async def test_a_malformed_url_is_a_clear_vatel_error(flavour: str, url: str) -> None:
    with traced_memory() as memory:
        error = await refused(flavour, url)
    assert isinstance(error, vatel.ConfigurationError), repr(error)
    assert "Invalid voice session URL" in str(error)
    assert not [text for text in texts_of(error) if SECRET in text]
    assert memory.peak_growth < 4 * MiB


@FLAVOURS
def test_a_client_with_a_bad_port_is_refused_before_any_session(flavour: str) -> None:
    # The REST client checks its base URL when it is built, so no voice URL is
    # ever made from one that cannot work.
    cls = vatel.AsyncClient if flavour == "async" else vatel.Client
    with pytest.raises(vatel.ConfigurationError, match="port") as info:
        cls(api_key="vk_test_" + "x" * 24, base_url="http://127.0.0.1:99999")
    assert SECRET not in str(info.value)
