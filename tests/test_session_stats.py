"""``conn.stats`` and the transcript hooks, counted by the connection on the sync
and the async API, against a server of the test's own and the mock server."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import vatel
from _flavours import ENDED, STARTED, Flavour, ScriptedServer, message
from vatel.audio import FRAME_BYTES
from vatel.testing import MockServer

pytestmark = pytest.mark.timeout(30)

TEXT = json.dumps(
    {"type": "response_text", "data": {"turn_id": "t1", "text": "héllo ☃ — ü", "is_final": True}},
    ensure_ascii=False,
)
UNKNOWN = message("agent_mood", mood="cheerful")
NOT_JSON = "this is not JSON {"
BINARY = b"\x00\x01binary\xff"
SCRIPT_FRAMES: list[str | bytes] = [STARTED, TEXT, UNKNOWN, NOT_JSON, BINARY, ENDED]


def wire_bytes(frame: str | bytes) -> int:
    return len(frame.encode("utf-8")) if isinstance(frame, str) else len(frame)


class Recorder(vatel.Transcript):
    """A transcript that writes down every hook call the connection makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def _on_event(self, event: vatel.Event) -> None:
        self.calls.append(("event", event.type))

    def _on_tool_output(self, tool_call_id: str, output: str) -> None:
        self.calls.append(("tool_output", (tool_call_id, output)))

    def _on_input_audio(self, pcm_bytes: int) -> None:
        self.calls.append(("input_audio", pcm_bytes))


async def send_script(ws: ServerConnection, server: ScriptedServer) -> None:
    for frame in SCRIPT_FRAMES:
        await ws.send(frame)
    await ws.close()  # as a server does after session_ended


def test_iteration_counts_every_frame_and_its_utf8_bytes(flavour: Flavour) -> None:
    with ScriptedServer(send_script) as peer:
        session = flavour.connect(peer.url())
        recorder = Recorder()
        session.conn.transcript = recorder
        events = list(session.iterate())
        stats = session.conn.stats.copy()
        session.close()
    assert [e.type for e in events] == [
        "session_started",
        "response_text",
        "agent_mood",
        "session_ended",
    ]
    assert stats.frames_received == len(SCRIPT_FRAMES)
    assert stats.bytes_received == sum(wire_bytes(f) for f in SCRIPT_FRAMES)
    # The non-ASCII frame is counted in UTF-8 bytes, not characters.
    assert wire_bytes(TEXT) > len(TEXT)
    assert stats.malformed_frames == 2  # the non-JSON text and the binary frame
    assert stats.unknown_events == 1
    assert recorder.calls == [("event", e.type) for e in events]


def test_recv_counts_malformed_frames_it_raises(flavour: Flavour) -> None:
    with ScriptedServer(send_script) as peer:
        session = flavour.connect(peer.url())
        recorder = Recorder()
        session.conn.transcript = recorder
        delivered: list[str] = []
        raised = 0
        while len(delivered) < 4:
            try:
                delivered.append(session.recv(timeout=5).type)
            except vatel.ProtocolError:
                raised += 1
        stats = session.conn.stats
        session.close()
    assert raised == 2 and stats.malformed_frames == 2
    assert stats.frames_received == len(SCRIPT_FRAMES)
    assert stats.bytes_received == sum(wire_bytes(f) for f in SCRIPT_FRAMES)
    assert stats.unknown_events == 1
    assert recorder.calls == [("event", t) for t in delivered]


def test_sent_frames_bytes_and_hooks(flavour: Flavour) -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await server.serve_until_closed(ws)

    pcm = bytes(range(256)) * 4
    b64_chunks = [base64.b64encode(bytes(n)).decode() for n in (6, 4, 2)]  # no, two, one "="
    with ScriptedServer(script) as peer:
        session = flavour.connect(peer.url())
        recorder = Recorder()
        session.conn.transcript = recorder
        session.send_audio(pcm)
        for chunk in b64_chunks:
            session.send_audio_base64(chunk)
        session.send_tool_output("call-1", {"ok": True, "city": "Zürich"})
        stats = session.conn.stats.copy()
        session.close()
    received = peer.received
    assert len(received) == 5 and stats.frames_sent == 5
    assert stats.bytes_sent == sum(wire_bytes(f) for f in received)
    assert recorder.calls[:4] == [("input_audio", n) for n in (len(pcm), 6, 4, 2)]
    name, (call_id, text) = recorder.calls[4]
    assert name == "tool_output" and call_id == "call-1"
    assert json.loads(text) == {"ok": True, "city": "Zürich"}
    assert json.loads(received[-1])["data"]["output"] == text
    assert stats.audio_chunks_dropped == 0 and stats.reconnects == 0


def test_a_send_that_fails_is_not_counted(flavour: Flavour) -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await ws.close(1011, "gone")

    with ScriptedServer(script) as peer:
        session = flavour.connect(peer.url())
        recorder = Recorder()
        session.conn.transcript = recorder
        with pytest.raises(vatel.ConnectionClosedError):
            while True:
                session.recv(timeout=5)
        with pytest.raises(vatel.ConnectionClosedError):
            session.send_audio(bytes(FRAME_BYTES))
        assert session.conn.stats.frames_sent == 0 and session.conn.stats.bytes_sent == 0
        session.close()
    assert [c for c in recorder.calls if c[0] == "input_audio"] == []


def test_receive_queue_high_water(flavour: Flavour) -> None:
    queued = 10

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        for n in range(queued):
            await ws.send(message("response_text", turn_id="t", text=str(n), is_final=False))
        await server.serve_until_closed(ws)

    with ScriptedServer(script) as peer:
        session = flavour.connect(peer.url())
        conn = session.conn
        deadline = time.monotonic() + 5
        while conn._queue_depth() < queued and time.monotonic() < deadline:
            time.sleep(0.005)
            if flavour.is_async:
                flavour._step(_yield_to_loop())
        assert conn._queue_depth() == queued
        assert conn.stats.receive_queue_high_water == 0
        first = session.recv(timeout=5)
        # One delivered, the rest still waiting at that moment.
        assert isinstance(first, vatel.ResponseText) and first.text == "0"
        assert conn.stats.receive_queue_high_water == queued - 1
        for _ in range(queued - 1):
            session.recv(timeout=5)
        assert conn.stats.receive_queue_high_water == queued - 1
        session.close()


async def _yield_to_loop() -> None:
    import asyncio

    await asyncio.sleep(0.005)


def test_stats_against_the_mock(flavour: Flavour, client: vatel.Client, server: MockServer) -> None:
    agent_id = client.agents.create(name="Stats", first_message="Hello there. " * 3).id
    server.faults.send_malformed("non_json", after_chunks=1)
    session = flavour.open(server, client.session_token(agent_id))
    events: list[vatel.Event] = []
    session.send_audio(bytes(FRAME_BYTES))
    session.send_audio(bytes(FRAME_BYTES))
    for event in session.iterate():
        events.append(event)
        if isinstance(event, vatel.ResponseAudio) and event.is_final:
            break
    stats = session.conn.stats.copy()
    session.close()
    mock = server.sessions[-1]
    assert mock.wait_closed(5)
    assert stats.malformed_frames == 1
    assert stats.frames_received == len(events) + 1
    assert stats.frames_received == len(mock.sent)
    assert stats.frames_sent == 2 and mock.received_audio == bytes(2 * FRAME_BYTES)
    assert stats.unknown_events == 0 and stats.bytes_received > stats.frames_received


def test_report_snapshot_is_a_copy() -> None:
    stats = vatel.SessionStats()
    stats.frames_received = 3
    snapshot = stats.copy()
    stats.frames_received += 1
    assert snapshot.frames_received == 3 and stats.frames_received == 4
