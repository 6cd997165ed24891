"""The transcript's memory bound against a server that floods it: a hundred thousand
turn ids, texts and tool arguments of a megabyte each, speech ends that never get
a transcript nor a reply. Fed directly (sans-I/O), then from a raw-socket server of the test's
own through both connections."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import tracemalloc
from collections.abc import Iterator

import pytest
from hostile_voice_support import ENDED, STARTED, HostileServer, Peer, Session, open_session

import vatel
from _support import memory_bound

MiB = 2**20
MAX_TEXT = vatel.Transcript()._max_text
MAX_TURNS = vatel.Transcript()._max_turns
CHUNK = base64.b64encode(bytes(960)).decode()


def big_text(n: int, size: int = MiB) -> str:
    """A new string of ``size`` characters each time (never one shared object)."""
    return f"{n:08d}" + "x" * (size - 8)


@pytest.mark.timeout(60)
def test_a_hundred_thousand_turn_ids_keep_a_bounded_transcript() -> None:
    transcript = vatel.Transcript()
    with memory_bound(3):
        for n in range(100_000):
            transcript._on_event(vatel.ResponseAudio(f"turn-{n:06d}", CHUNK, False))
    assert len(transcript) == MAX_TURNS
    assert transcript.dropped_turns == 100_000 - MAX_TURNS
    turns = transcript.agent_turns
    assert [t.turn_id for t in turns[:2]] == ["turn-099000", "turn-099001"]
    # A forgotten turn that speaks again starts afresh; the kept ones still add up.
    transcript._on_event(vatel.ResponseAudio("turn-000000", CHUNK, True))
    last = transcript.agent_turns[-1]
    assert (last.turn_id, last.audio_seconds, last.finished) == ("turn-000000", 0.02, True)
    # An interruption cuts only the turns kept (all open but the last one).
    transcript._on_event(vatel.Interruption())
    assert len(transcript.interruptions[0].turn_ids) == MAX_TURNS - 1


@pytest.mark.timeout(60)
def test_huge_turn_and_tool_call_ids_are_forgotten_with_their_turns() -> None:
    transcript = vatel.Transcript()
    with memory_bound(8):  # were the ids kept whole as lookup keys: over 500 MiB
        for n in range(3 * MAX_TURNS):
            turn_id, call_id = big_text(n, 64 * 1024), big_text(n, 64 * 1024) + "c"
            transcript._on_event(vatel.ResponseAudio(turn_id, CHUNK, n % 2 == 0))
            transcript._on_event(vatel.ToolCall(call_id, "store"))
            transcript._on_tool_output(call_id, "ok")
            del turn_id, call_id
    assert len(transcript) == MAX_TURNS
    last_call = transcript.tool_calls[-1]
    assert last_call.output == "ok" and len(last_call.tool_call_id) <= 201
    # A long id is still told apart from another with the same first characters.
    first, second = "x" * 500 + "1", "x" * 500 + "2"
    for turn_id in (first, second):
        transcript._on_event(vatel.ResponseAudio(turn_id, CHUNK, True))
    assert [t.audio_seconds for t in transcript.agent_turns[-2:]] == [0.02, 0.02]


@pytest.mark.timeout(60)
def test_megabyte_texts_and_arguments_are_cut() -> None:
    transcript = vatel.Transcript()
    with memory_bound(8):  # unbounded, it would keep 600 MiB
        for n in range(200):
            transcript._on_event(vatel.ResponseText(f"t{n}", big_text(n), n % 2 == 0))
            transcript._on_event(vatel.InputAudioTranscript(big_text(n), True, f"u{n}"))
            argument = vatel.ToolCallArgument(name="blob", value=[big_text(n)])
            small = vatel.ToolCallArgument(name="city", value="Paris")
            call = vatel.ToolCall(f"c{n}", "store", (argument, small))
            transcript._on_event(call)
            transcript._on_tool_output(f"c{n}", big_text(n))
    agent = transcript.agent_turns[-1]
    assert len(agent.text) == MAX_TEXT and agent.text.startswith("00000199x")
    assert agent.text.endswith("…")
    assert len(transcript.user_turns[-1].text) == MAX_TEXT
    call_turn = transcript.tool_calls[-1]
    assert dict(call_turn.arguments) == {"blob": "…", "city": "Paris"}
    assert call_turn.output is not None and len(call_turn.output) == MAX_TEXT
    assert len(str(transcript)) < 200 * 3 * (MAX_TEXT + 100)


@pytest.mark.timeout(60)
def test_fifty_thousand_speech_ends_keep_bounded_latency_samples() -> None:
    transcript = vatel.Transcript()
    stopped = vatel.SpeechStopped()
    with memory_bound(3):
        for n in range(25_000):
            transcript._on_event(stopped)  # never transcribed, never answered
            transcript._on_event(vatel.SpeechStopped())
            transcript._on_event(vatel.InputAudioTranscript(f"words {n}", True, f"u{n}"))
            transcript._on_event(vatel.ResponseAudio(f"r{n}", CHUNK, True))
    latency = transcript.latency
    assert latency.response.count == latency.transcript.count == MAX_TURNS
    assert latency.unanswered == 25_000
    assert len(transcript) == MAX_TURNS


# -- through the connections -------------------------------------------------------------


@pytest.fixture
def quiet_frames() -> Iterator[None]:
    """No DEBUG line per frame: the test runner keeps every log record of a test,
    and twenty thousand of them would count against the bound measured."""
    logger = logging.getLogger("vatel.websocket")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)


def flood(peer: Peer) -> None:
    """Ten thousand distinct turns, then forty texts and tool arguments of
    900 kB, then the end of the session."""
    peer.handshake()
    peer.send_text(STARTED)
    for n in range(10_000):
        data = {"turn_id": f"flood-{n}", "audio": CHUNK, "is_final": n % 2 == 0}
        peer.send_text(json.dumps({"type": "response_audio", "data": data}))
    for n in range(40):
        big = big_text(n, 900_000)
        data = {"turn_id": f"big-{n}", "text": big, "is_final": True}
        peer.send_text(json.dumps({"type": "response_text", "data": data}))
        args = [{"name": "blob", "dataType": "string", "value": big}]
        call = {"toolCallId": f"c{n}", "toolName": "store", "arguments": args}
        peer.send_text(json.dumps({"type": "tool_call", "data": call}))
    peer.send_text(ENDED)
    peer.send_close(1000)
    peer.serve()


@pytest.mark.anyio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_flooding_server_leaves_a_bounded_transcript(
    flavour: str, quiet_frames: None
) -> None:
    with HostileServer(flood) as server:
        gc.collect()
        tracemalloc.start()
        try:
            baseline, _ = tracemalloc.get_traced_memory()
            session = await open_session(flavour, server.url())
            transcript = vatel.Transcript()
            await feed(session, transcript)
            await session.close()
            del session
            gc.collect()
            kept, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert not server.errors, server.errors
    # Unbounded, the transcript would hold 72 MB of text and 10 000 turns.
    assert (kept - baseline) / MiB < 3
    assert len(transcript) == MAX_TURNS
    assert transcript.dropped_turns == 10_000 + 80 - MAX_TURNS
    agent = transcript.agent_turns[-1]
    assert agent.turn_id == "big-39" and len(agent.text) == MAX_TEXT
    assert dict(transcript.tool_calls[-1].arguments) == {"blob": "…"}


async def feed(session: Session, transcript: vatel.Transcript) -> None:
    """Feed every event of ``session`` to ``transcript`` as it arrives, keeping none."""
    conn = session.conn
    if session.is_async:
        async for event in conn:
            transcript._on_event(event)
        return

    def drain() -> None:
        for event in conn:
            transcript._on_event(event)

    await asyncio.to_thread(drain)
