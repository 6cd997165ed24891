"""``run(audio=...)`` against a server that stops reading: the sender's send is
cut off by ``send_timeout``, ``run()`` raises that time-out, the audio iterator
is closed, and no more of it is pulled or buffered than the socket holds."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_voice_support import STARTED, HostileServer, Peer

import vatel
from _flavours import Flavour, peak_memory


def stops_reading(release: threading.Event) -> Any:
    def behaviour(peer: Peer) -> None:
        peer.handshake()
        peer.send_text(STARTED)
        release.wait(30)  # never reads a byte the client sends

    return behaviour


@pytest.mark.timeout(30)
def test_a_server_that_stops_reading_cannot_hold_up_run(flavour: Flavour) -> None:
    release = threading.Event()
    pulled: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            for n in itertools.count():
                pulled.append(n)
                yield bytes(64 * 1024)  # 1.4 s of silence a chunk, sent as given
        finally:
            closed.set()

    with HostileServer(stops_reading(release), rcvbuf=4096) as server, peak_memory(8):
        session = flavour.connect(
            server.url(), send_timeout=0.5, close_timeout=0.5, ping_interval=None
        )
        try:
            with pytest.raises(vatel.APITimeoutError, match="send_timeout"):
                session._flavour._step(session.conn.run(audio=endless(), pace=None))
        finally:
            release.set()
        assert closed.is_set(), "the iterator was closed"
        assert session.conn.closed
    # The socket's buffers hold a few MiB: the sender stopped once they were full.
    assert len(pulled) < 200, f"{len(pulled)} chunks pulled for a server that reads nothing"
