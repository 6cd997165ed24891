"""``run(audio=...)``: input audio streamed while events arrive, on both APIs.

Against the mock server (a WAV's chunks, the turns it heard, the report) and
against scripted servers of the test's own (an iterable that raises, a session
that ends while audio remains, pacing on a simulated clock).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import vatel
from _clock import FakeClock
from _flavours import ENDED, STARTED, Flavour, ScriptedServer, Session
from vatel import _duplex, _session_run, audio
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer

TWO_BURSTS = voice_like(0.6) + silence(0.8) + voice_like(0.6) + silence(0.8)


def run(session: Session, **options: Any) -> vatel.SessionReport:
    """``conn.run(**options)`` in the session's flavour, returning the report."""
    report: vatel.SessionReport = session._flavour._step(session.conn.run(**options))
    return report


def input_audio(server: ScriptedServer) -> list[bytes]:
    """The PCM of each ``input_audio`` frame the scripted server read."""
    return [
        audio.decode_base64(m["data"]["audio"])
        for m in server.received_messages()
        if m["type"] == "input_audio"
    ]


# -- against the mock server ---------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("given_as", ["read_wav bytes", "chunks"])
def test_a_wav_streams_while_the_agent_answers(
    flavour: Flavour, server: MockServer, client: vatel.Client, tmp_path: Path, given_as: str
) -> None:
    wav = tmp_path / "two-bursts.wav"
    audio.write_wav(wav, TWO_BURSTS)
    pcm = audio.read_wav(wav)
    source: Any = pcm if given_as == "read_wav bytes" else audio.chunks(pcm)
    agent_id = client.agents.create(name="Duplex", first_message="").id
    session = flavour.open(server, client.session_token(agent_id))
    seen: list[str] = []

    report = run(
        session, audio=source, pace=None, linger=0.3, on_event=lambda e: seen.append(e.type)
    )

    mock = server.sessions[-1]
    assert report.session_id == mock.id
    assert mock.received_audio == pcm, "every chunk arrived, in order, nothing more"
    heard = [m for m in mock.sent if m.type == "input_audio_transcript" and m.data.get("is_final")]
    assert len(heard) == 2, "one user turn per burst of speech"
    assert seen.count("response_text") >= 2, "the agent answered while audio went out"
    assert report.audio_sent_bytes == len(pcm)
    assert report.audio_sent_seconds == pytest.approx(len(TWO_BURSTS) / 48_000)
    assert report.audio_received_bytes > 0
    assert report.close_code == 1000, "linger closed the session normally once it was quiet"
    assert mock.wait_closed() and mock.close_code == 1000
    assert report.transcript is session.conn.transcript


@pytest.mark.timeout(60)
def test_a_real_time_session_reports_its_turns_and_latency(flavour: Flavour) -> None:
    # The mock paces its replies in real time here, as a live agent would; the
    # report must hold what was said on both sides and a latency for each turn.
    with MockServer(pace=1) as server:
        client = flavour.client(server)
        agent_id = server.agent_ids[0]
        token = flavour._step(client.session_token(agent_id))
        session = flavour.open(server, token)
        report = run(session, audio=TWO_BURSTS, pace=1.0, linger=0.5)
        mock = server.sessions[-1]
        assert mock.wait_closed()

    heard = [
        m.data["transcript"]
        for m in mock.sent
        if m.type == "input_audio_transcript" and m.data["is_final"]
    ]
    said = [m.data["text"] for m in mock.sent if m.type == "response_text" and m.data["is_final"]]
    transcript = report.transcript
    assert len(heard) == 2
    assert [turn.text for turn in transcript.user_turns] == heard
    assert [turn.text for turn in transcript.agent_turns] == said
    for user in transcript.user_turns:
        assert user.speech_stopped_at is not None
        assert user.response_latency is not None and user.response_latency >= 0
        assert user.transcript_latency is not None and user.transcript_latency >= 0
    replies = [turn for turn in transcript.agent_turns if turn.response_latency is not None]
    assert len(replies) == 2, "the greeting has no latency, each reply one"
    for user, reply in zip(transcript.user_turns, replies, strict=True):
        assert reply.first_audio_at is not None and user.speech_stopped_at is not None
        assert reply.first_audio_at >= user.speech_stopped_at
    latency = transcript.latency
    assert (latency.response.count, latency.transcript.count, latency.unanswered) == (2, 2, 0)
    p50, p95, worst = latency.response.p50, latency.response.p95, latency.response.max
    assert p50 is not None and p95 is not None and worst is not None
    assert 0 <= p50 <= p95 <= worst
    sent_audio = [m for m in mock.received if m.type == "input_audio"]
    assert report.stats.frames_sent == len(sent_audio)
    assert report.stats.frames_received == len(mock.sent)
    assert report.audio_sent_bytes == len(TWO_BURSTS) == len(mock.received_audio)


# -- against servers of our own ---------------------------------------------------------


async def read_then_end(ws: ServerConnection, server: ScriptedServer, frames: int) -> None:
    """Start, read ``frames`` client frames, then end the session."""
    await ws.send(STARTED)
    for _ in range(frames):
        server.received.append(await ws.recv())
    await ws.send(ENDED)
    await ws.close()


@pytest.mark.timeout(20)
def test_a_session_that_ends_stops_the_sender(flavour: Flavour) -> None:
    pulled: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            for n in range(10_000):  # 200 s of audio: far more than the session lasts
                pulled.append(n)
                yield bytes([n % 256, 0]) * (FRAME_BYTES // 2)
        finally:
            closed.set()

    with ScriptedServer(lambda ws, s: read_then_end(ws, s, 3)) as server:
        session = flavour.connect(server.url())
        report = run(session, audio=endless())  # real-time pace: 20 ms a chunk
        assert closed.is_set(), "the generator was closed when the session ended"
        taken = len(pulled)
        assert taken < 100, f"{taken} chunks pulled from a session that took 3"
        assert report.close_code == 1000
        assert report.audio_sent_bytes >= 3 * FRAME_BYTES
    assert [c[0] for c in input_audio(server)] == [0, 1, 2]


class SourceBroke(Exception):
    pass


@pytest.mark.timeout(20)
@pytest.mark.parametrize("failure", ["iterable raises", "odd-length chunk", "float samples"])
def test_a_failing_source_closes_1011_and_raises_from_run(flavour: Flavour, failure: str) -> None:
    good = [b"\x01\x00" * 480, b"\x02\x00" * 480]

    def source() -> Iterator[Any]:
        yield from good
        if failure == "iterable raises":
            raise SourceBroke("the microphone was unplugged")
        if failure == "odd-length chunk":
            yield b"\x00\x00\x00"
        else:
            import array

            yield array.array("f", [0.5] * 480)

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await server.serve_until_closed(ws)

    expected = SourceBroke if failure == "iterable raises" else vatel.AudioFormatError
    with ScriptedServer(script) as server:
        session = flavour.connect(server.url())
        with pytest.raises(expected) as raised:
            run(session, audio=source(), pace=None)
        assert session.conn.closed
        assert session.conn.close_code == 1011
    assert server.close_codes == [1011]
    assert input_audio(server) == good, "what was sent before the failure arrived whole"
    if failure == "odd-length chunk":
        assert "even number of bytes" in str(raised.value)
    if failure == "float samples":
        assert "float_to_pcm16" in str(raised.value)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"audio": "hello"}, vatel.AudioFormatError, "not str"),
        ({"audio": 42}, TypeError, "not int"),
        ({"audio": b"\x00" * 3}, vatel.AudioFormatError, "even number"),
        ({"audio": b"\x00\x00", "pace": -1.0}, ValueError, "pace"),
        ({"audio": b"\x00\x00", "pace": "fast"}, TypeError, "pace"),
        ({"audio": b"\x00\x00", "linger": float("nan")}, ValueError, "linger"),
        ({"linger": 1.0}, ValueError, "audio="),
    ],
)
def test_bad_options_raise_before_anything_is_sent(
    flavour: Flavour, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await server.serve_until_closed(ws)

    with ScriptedServer(script) as server:
        session = flavour.connect(server.url())
        with pytest.raises(error, match=words):
            run(session, **options)
        assert not session.conn.closed, "a mistake in the call costs the session nothing"
        session.send_audio(b"\x00\x00" * 480)  # and it is still usable
        session.close()
    assert [m["type"] for m in server.received_messages()] == ["input_audio"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pace", [1.0, 2.0])
def test_chunks_go_out_on_the_real_time_schedule(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch, pace: float
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_duplex, "_clock", clock)
    monkeypatch.setattr(_duplex, "_wait", lambda stopped, seconds: clock.sleep(seconds))
    monkeypatch.setattr(_duplex, "_asleep", clock.asleep)
    # 20, 40, 10 and 20 ms of audio: each chunk is due once those before it have played.
    sizes = [960, 1920, 480, 960]
    chunks = [bytes([i + 1, 0]) * (size // 2) for i, size in enumerate(sizes)]

    with ScriptedServer(lambda ws, s: read_then_end(ws, s, len(chunks))) as server:
        session = flavour.connect(server.url())
        report = run(session, audio=iter(chunks), pace=pace)
    assert input_audio(server) == chunks
    assert clock.wakes == pytest.approx([t / pace for t in (0.02, 0.06, 0.07)])
    assert report.audio_sent_bytes == sum(sizes)


@pytest.mark.timeout(20)
def test_an_async_source_and_an_unpaced_one(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_duplex, "_clock", clock)
    monkeypatch.setattr(_duplex, "_wait", lambda stopped, seconds: clock.sleep(seconds))
    monkeypatch.setattr(_duplex, "_asleep", clock.asleep)
    chunks = [bytes([i + 1, 0]) * 480 for i in range(5)]

    async def from_a_task() -> AsyncIterator[bytes]:
        for chunk in chunks:
            await asyncio.sleep(0)
            yield chunk

    with ScriptedServer(lambda ws, s: read_then_end(ws, s, len(chunks))) as server:
        session = flavour.connect(server.url())
        run(session, audio=from_a_task(), pace=None)
    assert input_audio(server) == chunks, "the blocking API drives an async source too"
    assert clock.sleeps == [], "pace=None sends as given"


def test_a_microphone_is_taken_and_never_held_back() -> None:
    # The device itself needs hardware; its type is what decides.
    mic = audio.Microphone.__new__(audio.Microphone)
    assert _duplex.check_options(mic, 1.0, None) == 0.0
    assert _duplex.check_options(iter([b"\x00\x00"]), 1.0, None) == 1.0


def test_the_report_reads_as_a_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = vatel.SessionStats(tool_calls=3, tool_calls_answered=2, tool_calls_cancelled=1)
    report = vatel.SessionReport(
        "sess-1",
        vatel.Transcript(),
        stats,
        1000,
        "",
        duration=12.34,
        audio_sent_bytes=96_000,
        audio_received_bytes=24_000,
    )
    text = str(report)
    assert text.splitlines()[0] == "Session sess-1: 12.3 s, closed 1000"
    assert "audio: 2.0 s sent, 0.5 s received" in text
    assert "tool calls: 3 (2 answered, 1 cancelled)" in text
    assert "latency: response n/a (0 turns); transcript n/a (0 turns)" in text
    assert report.summary() == text


@pytest.mark.timeout(20)
def test_the_report_duration_is_what_run_took(
    flavour: Flavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = iter([100.0, 107.5])
    monkeypatch.setattr(_session_run, "_clock", lambda: next(readings))

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        await ws.send(ENDED)
        await ws.close()

    with ScriptedServer(script) as server:
        report = run(flavour.connect(server.url()))
    assert report.duration == 7.5
    assert report.session_id == json.loads(STARTED)["data"]["id"]
    assert report.audio_sent_bytes == 0


@pytest.mark.timeout(20)
def test_linger_waits_for_a_tool_call_to_be_answered(flavour: Flavour) -> None:
    tools = vatel.ToolRouter()

    @tools.tool()
    def slow() -> str:
        threading.Event().wait(0.6)  # far longer than the linger below
        return "done"

    async def script(ws: ServerConnection, server: ScriptedServer) -> None:
        await ws.send(STARTED)
        for _ in range(2):
            server.received.append(await ws.recv())
        await ws.send(
            json.dumps(
                {
                    "type": "tool_call",
                    "data": {"toolCallId": "tc-1", "toolName": "slow", "arguments": []},
                }
            )
        )
        await server.serve_until_closed(ws)

    chunks = [b"\x01\x00" * 480] * 2
    with ScriptedServer(script) as server:
        report = run(
            flavour.connect(server.url()), audio=chunks, pace=None, linger=0.1, tools=tools
        )
    outputs = [m["data"] for m in server.received_messages() if m["type"] == "tool_call_output"]
    assert outputs == [{"toolCallId": "tc-1", "output": "done"}], "answered before the close"
    assert server.close_codes == [1000] and report.close_code == 1000
    assert report.stats.tool_calls_answered == 1
