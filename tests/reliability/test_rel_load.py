"""Load: hundreds of concurrent voice sessions from one process, each streaming audio
as fast as it can, with nothing lost or reordered; and a sync connection shared by
sender threads while another thread runs the session with slow tools."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rel_support import measured, split_chunks, stamped_chunk

import vatel
from vatel.audio import FRAME_BYTES
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def load_server(caplog: pytest.LogCaptureFixture) -> Iterator[MockServer]:
    """A mock server for load; and no DEBUG line per WebSocket frame. The run keeps
    every log record, and a record per audio frame would make these tests measure the
    test run's log capture (hundreds of MB) rather than the SDK. The handshake, the
    one record that carries a session token, is watched in the other tests."""
    caplog.set_level(logging.INFO, logger="vatel.websocket")
    with MockServer(pace=0, idle_timeout=None) as mock:
        yield mock


async def stream_sessions(server: MockServer, sessions: int, chunks: int) -> None:
    """``sessions`` sessions at once, each sending ``chunks`` chunks of 20 ms whose
    content is unique per session and chunk; the server's record of each session
    must be exactly what that session sent, in order."""
    async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:
        agent = await client.agents.create(name="Load", first_message="")
        tokens = await asyncio.gather(*(client.session_token(agent.id) for _ in range(sessions)))
        opened = asyncio.Event()
        ready = 0
        started = time.monotonic()

        async def one(n: int, token: vatel.SessionToken) -> tuple[str, bytes]:
            nonlocal ready
            sent = bytearray()
            async with client.connect(token, open_timeout=60, close_timeout=60) as conn:
                hello = await conn.recv(timeout=60)
                assert isinstance(hello, vatel.SessionStarted)
                ready += 1
                if ready == sessions:
                    opened.set()
                await opened.wait()  # every session is open before any audio flows
                for i in range(chunks):
                    chunk = stamped_chunk(n, i)
                    sent += chunk
                    await conn.send_input_audio_bytes(chunk)
            return hello.id, bytes(sent)

        results = await asyncio.wait_for(
            asyncio.gather(*(one(n, t) for n, t in enumerate(tokens))), 600
        )
        elapsed = time.monotonic() - started
    by_id = {s.id: s for s in server.sessions}
    assert len(by_id) == sessions
    for session_id, sent in results:
        session = by_id[session_id]
        assert await session.wait_closed_async(60)
        got = session.received_audio
        if got != sent:
            mine = split_chunks(got)
            assert len(mine) == chunks, f"{len(mine)} of {chunks} chunks arrived"
            wrong = next(
                i for i, c in enumerate(mine) if c != sent[i * FRAME_BYTES :][:FRAME_BYTES]
            )
            raise AssertionError(f"session {session_id}: chunk {wrong} differs")
        assert session.rejected == []
    audio_seconds = sessions * chunks * 0.02
    measured(
        f"{sessions} sessions x {chunks} chunks",
        f"{elapsed:.1f} s for {audio_seconds:.0f} s of audio "
        f"({sessions * chunks / elapsed:.0f} chunks/s), all verified byte for byte",
    )


@pytest.mark.timeout(900)
async def test_500_sessions_each_streaming_10_seconds(load_server: MockServer) -> None:
    """The full size: 250,000 chunks (5,000 s of audio). About 70 s on two cores, which
    is within the budget for the default run, so it is not marked slow."""
    await stream_sessions(load_server, sessions=500, chunks=500)


# -- a sync connection shared by threads while run() answers slow tools ---------------------

TOOLS = ("lookup_order", "check_stock", "book_slot")
SENDERS, CHUNKS_PER_BURST = 4, 15
BACKGROUND, BACKGROUND_ROUND = 2, 999


def tool_result(name: str, q: str) -> dict[str, Any]:
    # Answers of a few hundred bytes (the agent reads each one out, as audio).
    return {"tool": name, "q": q, "detail": (name + "-") * 30}


def last_reply_finished(events: list[vatel.Event]) -> bool:
    """The agent has said, to the end of its audio, what the last tool returned."""
    turns = [
        e.turn_id
        for e in list(events)
        if isinstance(e, vatel.ResponseText) and e.is_final and f"The {TOOLS[-1]} tool" in e.text
    ]
    return bool(turns) and any(
        isinstance(e, vatel.ResponseAudio) and e.is_final and e.turn_id == turns[-1]
        for e in list(events)
    )


def test_sender_threads_and_a_run_thread_with_slow_tools(
    server: MockServer, client: vatel.Client
) -> None:
    agent_id = client.agents.create(name="Busy desk", first_message="").id
    for name in TOOLS:
        server.add_client_tool(
            agent_id, name, arguments=[{"name": "q", "dataType": "string", "value": name}]
        )
    tools = vatel.ToolRouter()
    for name in TOOLS:

        def slow(q: str, name: str = name) -> dict[str, Any]:
            time.sleep(0.4)
            return tool_result(name, q)

        tools.add(name, slow)

    events: list[vatel.Event] = []
    signals: queue.Queue[str] = queue.Queue()

    def on_event(event: vatel.Event) -> None:
        events.append(event)
        if isinstance(event, vatel.ToolCall):
            signals.put("tool_call")
        elif isinstance(event, vatel.ResponseAudio) and event.is_final:
            signals.put("reply_done")

    sent: dict[tuple[int, int], list[bytes]] = {}
    run_error: list[BaseException] = []
    with client.connect(client.session_token(agent_id)) as conn:

        def run() -> None:
            try:
                conn.run(tools=tools, on_event=on_event)
            except BaseException as exc:
                run_error.append(exc)

        def burst(sender: int, round_: int) -> None:
            chunks = [
                stamped_chunk(sender, round_, i, voiced=True) for i in range(CHUNKS_PER_BURST)
            ]
            sent[sender, round_] = chunks
            for chunk in chunks:
                conn.send_input_audio_bytes(chunk)

        stop_background = threading.Event()

        def background(sender: int) -> None:
            # Quiet audio all session long, so tool outputs always go out while
            # other threads are sending audio.
            chunks = sent[sender, BACKGROUND_ROUND] = []
            i = 0
            while not stop_background.is_set():
                chunk = stamped_chunk(sender, BACKGROUND_ROUND, i)
                chunks.append(chunk)
                conn.send_input_audio_bytes(chunk)
                i += 1
                time.sleep(0.005)

        runner = threading.Thread(target=run, name="run")
        runner.start()
        session = server.wait_for_session()
        quiet = [
            threading.Thread(target=background, args=(SENDERS + n,)) for n in range(BACKGROUND)
        ]
        for thread in quiet:
            thread.start()
        round_ = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and round_ < 15:
            senders = [threading.Thread(target=burst, args=(n, round_)) for n in range(SENDERS)]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join(10)
                assert not thread.is_alive(), "a sender thread is stuck"
            round_ += 1
            if len(session.tool_outputs) == len(TOOLS) and last_reply_finished(events):
                break
            # Start the next burst as soon as a tool is called (so that its output goes
            # out while audio does) or the agent has finished replying.
            with contextlib.suppress(queue.Empty):
                signals.get(timeout=5)
        # Let the reply to the last tool finish, then end the session.
        while not last_reply_finished(events) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                signals.get(timeout=1)
        stop_background.set()
        for thread in quiet:
            thread.join(10)
            assert not thread.is_alive(), "a background sender is stuck"
        server.end_session()
        runner.join(30)
        assert not runner.is_alive(), "run() did not return after the session ended"
    assert run_error == []
    assert session.wait_closed(10)

    # Every tool was called once and its whole answer arrived, intact.
    outputs = session.tool_outputs
    assert len(outputs) == len(TOOLS) and all(o.known for o in outputs)
    calls = {e.tool_call_id: e for e in events if isinstance(e, vatel.ToolCall)}
    for output in outputs:
        name = calls[output.tool_call_id].tool_name
        assert json.loads(output.output) == tool_result(name, name)
    assert sorted(calls[o.tool_call_id].tool_name for o in outputs) == sorted(TOOLS)
    assert session.rejected == [], "every frame the server got was a whole, valid message"

    # Every audio chunk of every thread arrived whole, once, in each thread's order.
    received = split_chunks(session.received_audio)
    assert len(received) == sum(len(chunks) for chunks in sent.values())
    by_origin: dict[tuple[int, int], list[bytes]] = {}
    for chunk in received:
        sender, round_number = chunk[0] | chunk[1] << 8, chunk[2] | chunk[3] << 8
        by_origin.setdefault((sender, round_number), []).append(chunk)
    assert by_origin == sent

    # And the agent's audio reached the run() thread, all of it, in order.
    got = [(e.turn_id, e.audio, e.is_final) for e in events if isinstance(e, vatel.ResponseAudio)]
    expected = [
        (m.data["turn_id"], m.data["audio"], m.data["is_final"])
        for m in session.sent
        if m.type == "response_audio"
    ]
    assert got == expected and got
    measured(
        "threads: senders x bursts, tool calls",
        f"{SENDERS} burst threads x {(len(sent) - BACKGROUND) // SENDERS} bursts, "
        f"{BACKGROUND} background "
        f"threads, {len(received)} chunks, run() thread, {len(outputs)} slow tool calls",
    )
