"""The session transcript: turns and latency assembled from events, with no sockets
(a fake clock moves between events), then fed from real sessions on both APIs."""

from __future__ import annotations

import base64
import json
import threading

import pytest

import vatel
from _clock import FakeClock
from _flavours import Flavour
from vatel._transcript import (
    AgentTurn,
    InterruptionTurn,
    LatencySummary,
    ToolCallTurn,
    UserTurn,
)
from vatel.audio import FRAME_BYTES, silence, voice_like
from vatel.testing import MockServer
from vatel.testing._voice_agent import transcript_text

CHUNK = base64.b64encode(bytes(FRAME_BYTES)).decode()  # 20 ms of PCM16 at 24 kHz
WEATHER = '{"sky": "sunny"}'


class Feed:
    """A transcript on a fake clock, fed one event at a given time."""

    def __init__(self, **options: int) -> None:
        self.clock = FakeClock()
        self.transcript = vatel.Transcript(clock=self.clock, **options)

    def at(self, when: float, *events: vatel.Event) -> None:
        self.clock.now = when
        for event in events:
            self.transcript._on_event(event)

    def output(self, when: float, tool_call_id: str, text: str) -> None:
        self.clock.now = when
        self.transcript._on_tool_output(tool_call_id, text)


def text(turn_id: str, words: str, final: bool = True) -> vatel.ResponseText:
    return vatel.ResponseText(turn_id=turn_id, text=words, is_final=final)


def audio(turn_id: str, final: bool = False, chunk: str = CHUNK) -> vatel.ResponseAudio:
    return vatel.ResponseAudio(turn_id=turn_id, audio=chunk, is_final=final)


def heard(words: str, final: bool = True, turn_id: str | None = None) -> vatel.Event:
    return vatel.InputAudioTranscript(transcript=words, is_final=final, turn_id=turn_id)


STARTED = vatel.SpeechStarted(emulated=False)
STOPPED = vatel.SpeechStopped()


def conversation() -> Feed:
    """A greeting, a user turn answered after a tool call, an interrupted answer, a
    second user turn and its answer; an unknown event in the middle."""
    feed = Feed()
    feed.at(0.1, vatel.SessionStarted(id="call-1"))
    feed.at(0.2, text("g", "Hi! Ask me."))
    feed.at(0.3, audio("g"))
    feed.at(0.32, audio("g", final=True))
    feed.at(1.0, STARTED)
    feed.at(2.0, STOPPED)
    feed.at(2.1, heard("what is", final=False))
    feed.at(2.25, heard("What is the weather?", turn_id="u1"))
    call = vatel.ToolCall(
        tool_call_id="call_1",
        tool_name="get_weather",
        arguments=(vatel.ToolCallArgument(name="city", value="Paris"),),
    )
    feed.at(2.4, call)
    feed.output(2.9, "call_1", WEATHER)
    feed.at(3.0, text("a1", "It is", final=False))
    feed.at(3.1, text("a1", "It is sunny in Paris."))
    feed.at(3.2, audio("a1"))
    feed.at(3.22, audio("a1"))
    feed.at(3.5, vatel.UnknownEvent(type="agent_mood", data={"mood": "cheerful"}))
    feed.at(4.0, STARTED)
    feed.at(4.05, vatel.Interruption())
    feed.at(4.5, STOPPED)
    feed.at(4.6, heard("Stop.", turn_id="u2"))
    feed.at(5.0, text("a2", "OK."))
    feed.at(5.3, audio("a2", final=True))
    feed.at(6.0, vatel.SessionEnded())
    return feed


class TestTurns:
    def test_a_conversation_is_assembled_in_order(self) -> None:
        turns = conversation().transcript.turns
        approx = pytest.approx
        assert turns == (
            AgentTurn(
                turn_id="g",
                text="Hi! Ask me.",
                at=approx(0.2),
                audio_seconds=approx(0.04),
                finished=True,
                first_audio_at=approx(0.3),
            ),
            UserTurn(
                text="What is the weather?",
                turn_id="u1",
                at=approx(2.25),
                speech_started_at=approx(1.0),
                speech_stopped_at=approx(2.0),
                transcript_latency=approx(0.25),
                response_latency=approx(1.2),
            ),
            ToolCallTurn(
                tool_call_id="call_1",
                name="get_weather",
                arguments={"city": "Paris"},
                at=approx(2.4),
                output=WEATHER,
                answered_at=approx(2.9),
            ),
            AgentTurn(
                turn_id="a1",
                text="It is sunny in Paris.",
                at=approx(3.0),
                audio_seconds=approx(0.04),
                interrupted=True,
                first_audio_at=approx(3.2),
                response_latency=approx(1.2),
            ),
            InterruptionTurn(at=approx(4.05), turn_ids=("a1",)),
            UserTurn(
                text="Stop.",
                turn_id="u2",
                at=approx(4.6),
                speech_started_at=approx(4.0),
                speech_stopped_at=approx(4.5),
                transcript_latency=approx(0.1),
                response_latency=approx(0.8),
            ),
            AgentTurn(
                turn_id="a2",
                text="OK.",
                at=approx(5.0),
                audio_seconds=approx(0.02),
                finished=True,
                first_audio_at=approx(5.3),
                response_latency=approx(0.8),
            ),
        )

    def test_tool_duration_runs_from_receipt_to_output(self) -> None:
        (call,) = conversation().transcript.tool_calls
        assert call.duration == pytest.approx(0.5)

    def test_readable_lines(self) -> None:
        transcript = conversation().transcript
        assert str(transcript).splitlines() == [
            "agent: Hi! Ask me.",
            "user: What is the weather?",
            f'tool get_weather(city="Paris") -> {WEATHER}',
            "agent: It is sunny in Paris. [interrupted]",
            "(interrupted)",
            "user: Stop.",
            "agent: OK.",
        ]
        assert transcript.format() == str(transcript)

    def test_json_export(self) -> None:
        data = json.loads(json.dumps(conversation().transcript.to_dict()))
        kinds = [turn["kind"] for turn in data["turns"]]
        assert kinds == ["agent", "user", "tool_call", "agent", "interruption", "user", "agent"]
        assert data["turns"][2]["arguments"] == {"city": "Paris"}
        assert data["turns"][2]["duration"] == pytest.approx(0.5)
        assert data["turns"][4]["turn_ids"] == ["a1"]
        assert data["latency"]["response"] == {
            "count": 2,
            "p50_ms": 800.0,
            "p95_ms": 1200.0,
            "max_ms": 1200.0,
        }
        assert data["dropped_turns"] == 0

    def test_audio_length_is_read_from_the_base64_text(self) -> None:
        feed = Feed()
        sizes = [0, 2, 4, 10, 958, 960, 4802]
        for n, size in enumerate(sizes):
            feed.at(n, audio(f"t{n}", final=True, chunk=base64.b64encode(bytes(size)).decode()))
        seconds = [turn.audio_seconds for turn in feed.transcript.agent_turns]
        assert seconds == [pytest.approx(size / 48_000) for size in sizes]

    def test_every_chunk_of_a_turn_counts_its_own_padding(self) -> None:
        # The chunks after a turn's first one take a shorter path: the same sum.
        feed = Feed()
        sizes = [960, 1, 2, 3, 4, 5, 958, 0, 961]
        for n, size in enumerate(sizes):
            chunk = base64.b64encode(bytes(size)).decode()
            feed.at(n, audio("t", final=n == len(sizes) - 1, chunk=chunk))
        (turn,) = feed.transcript.agent_turns
        assert turn.audio_seconds == pytest.approx(sum(sizes) / 48_000)
        assert turn.finished

    def test_interim_text_stands_until_a_final_one_and_nothing_after_it(self) -> None:
        feed = Feed()
        feed.at(1, text("t", "Half a", final=False))
        assert feed.transcript.agent_turns[0].text == "Half a"
        feed.at(2, text("t", "Half a sentence."), text("t", "late interim", final=False))
        assert feed.transcript.agent_turns[0].text == "Half a sentence."

    def test_a_refined_final_transcript_replaces_the_text(self) -> None:
        feed = Feed()
        feed.at(1, STARTED)
        feed.at(2, STOPPED, heard("to", turn_id="u"), heard("Two tickets.", turn_id="u"))
        (turn,) = feed.transcript.user_turns
        assert turn.text == "Two tickets."

    def test_a_duplicate_tool_call_and_stray_outputs_are_ignored(self) -> None:
        feed = Feed()
        call = vatel.ToolCall(tool_call_id="c", tool_name="lookup")
        feed.at(1, call)
        feed.output(2, "c", "first")
        feed.at(3, call)
        feed.output(4, "c", "second")
        feed.output(5, "never-called", "stray")
        (turn,) = feed.transcript.tool_calls
        assert (turn.output, turn.duration) == ("first", 1)

    def test_unknown_and_session_events_add_no_turn(self) -> None:
        feed = Feed()
        feed.at(1, vatel.SessionStarted(id="s"), vatel.UnknownEvent("agent_mood", {}))
        feed.at(2, vatel.SessionEnded())
        assert feed.transcript.turns == () and str(feed.transcript) == ""

    def test_input_audio_is_counted(self) -> None:
        transcript = vatel.Transcript()
        for _ in range(50):
            transcript._on_input_audio(FRAME_BYTES)
        assert transcript.input_audio_seconds == pytest.approx(1.0)

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
    def test_bounds_must_be_positive_ints(self, bad: object) -> None:
        with pytest.raises(ValueError, match="max_turns"):
            vatel.Transcript(max_turns=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_text"):
            vatel.Transcript(max_text=bad)  # type: ignore[arg-type]


class TestLatency:
    def test_figures_of_the_conversation(self) -> None:
        latency = conversation().transcript.latency
        approx = pytest.approx
        # Nearest rank over two samples: p50 is the smaller, p95 the larger.
        assert latency.response == LatencySummary(2, approx(0.8), approx(1.2), approx(1.2))
        assert latency.transcript == LatencySummary(2, approx(0.1), approx(0.25), approx(0.25))
        assert latency.unanswered == 0
        assert latency.format() == (
            "response p50 800 ms, p95 1200 ms (2 turns); "
            "transcript p50 100 ms, p95 250 ms (2 turns)"
        )

    @pytest.mark.parametrize(
        ("samples", "p50", "p95"),
        [
            ([0.3], 0.3, 0.3),
            ([0.3, 0.1, 0.2], 0.2, 0.3),  # ranks ceil(1.5)=2 and ceil(2.85)=3
            ([0.5, 0.1, 0.4, 0.2, 0.3, 1.0, 0.9, 0.8, 0.7, 0.6], 0.5, 1.0),  # ranks 5 and 10
            ([n / 100 for n in range(20, 0, -1)], 0.10, 0.19),  # ranks 10 and 19
        ],
    )
    def test_nearest_rank_percentiles_over_a_session(
        self, samples: list[float], p50: float, p95: float
    ) -> None:
        feed = Feed()
        now = 0.0
        for n, latency in enumerate(samples):
            feed.at(now, STARTED)
            feed.at(now + 1, STOPPED)
            feed.at(now + 1 + latency / 2, heard(f"turn {n}"))
            feed.at(now + 1 + latency, text(f"a{n}", "Sure."), audio(f"a{n}", final=True))
            now += 10
        latency = feed.transcript.latency
        assert latency.response == LatencySummary(
            len(samples), pytest.approx(p50), pytest.approx(p95), pytest.approx(max(samples))
        )
        assert latency.transcript.p50 == pytest.approx(p50 / 2)

    def test_no_samples(self) -> None:
        latency = vatel.Transcript().latency
        assert latency.response == latency.transcript == LatencySummary(0)
        assert latency.format() == "response n/a (0 turns); transcript n/a (0 turns)"
        assert latency.to_dict()["response"] == {
            "count": 0,
            "p50_ms": None,
            "p95_ms": None,
            "max_ms": None,
        }

    def test_a_greeting_has_no_response_latency(self) -> None:
        feed = Feed()
        feed.at(0.5, text("g", "Welcome."), audio("g"))
        feed.at(1.0, STARTED)
        feed.at(1.5, STOPPED)
        # The greeting is still playing after the user stopped: not a reply.
        feed.at(1.6, audio("g", final=True))
        feed.at(2.0, text("r", "Yes?"), audio("r", final=True))
        greeting, reply = feed.transcript.agent_turns
        assert greeting.response_latency is None
        assert reply.response_latency == pytest.approx(0.5)
        assert feed.transcript.latency.response.count == 1

    def test_speech_with_no_reply_is_unanswered_and_the_reply_answers_the_latest(self) -> None:
        feed = Feed()
        feed.at(1, STARTED)
        feed.at(2, STOPPED, heard("Hello?"))
        feed.at(3, STARTED)
        feed.at(4, STOPPED, heard("Anyone there?"))
        feed.at(4.3, text("r", "I am here."), audio("r"))
        first, second = feed.transcript.user_turns
        assert first.response_latency is None
        assert second.response_latency == pytest.approx(0.3)
        assert feed.transcript.latency.response.count == 1
        assert feed.transcript.latency.unanswered == 1
        # A speech end waiting for its reply counts as unanswered until the reply starts.
        feed.at(5, STARTED)
        feed.at(6, STOPPED)
        assert feed.transcript.latency.unanswered == 2

    def test_a_speech_end_never_transcribed_is_taken_for_noise(self) -> None:
        feed = Feed()
        feed.at(1, STARTED)
        feed.at(1.2, STOPPED)  # a cough: no transcript, no reply
        feed.at(2, STARTED)
        feed.at(3, STOPPED)
        feed.at(3.3, heard("A table for two."))
        (turn,) = feed.transcript.user_turns
        assert (turn.speech_started_at, turn.speech_stopped_at) == (2, 3)
        assert turn.transcript_latency == pytest.approx(0.3)
        assert feed.transcript.latency.transcript.count == 1

    def test_a_reply_that_began_before_the_speech_end_does_not_answer_it(self) -> None:
        feed = Feed()
        feed.at(1, STARTED)
        feed.at(2, STOPPED, heard("One."))
        feed.at(2.1, text("r1", "Let me see"))  # the reply to "One." begins...
        feed.at(2.5, STARTED)
        feed.at(3, STOPPED, heard("Two."))
        feed.at(3.2, audio("r1"))  # ...and its sound is late: not an answer to "Two."
        feed.at(3.4, text("r2", "Two it is."), audio("r2"))
        r1, r2 = feed.transcript.agent_turns
        assert r1.response_latency is None and r2.response_latency == pytest.approx(0.4)

    def test_a_transcript_before_the_speech_end_has_no_transcript_latency(self) -> None:
        feed = Feed()
        feed.at(1, STARTED)
        feed.at(1.5, heard("Early words."))
        feed.at(2, STOPPED)
        feed.at(2.2, text("r", "OK."), audio("r"))
        (turn,) = feed.transcript.user_turns
        assert (turn.speech_started_at, turn.speech_stopped_at) == (1, 2)
        assert turn.transcript_latency is None
        assert turn.response_latency == pytest.approx(0.2)
        assert feed.transcript.latency.transcript.count == 0

    def test_an_interruption_cuts_only_the_turns_still_playing(self) -> None:
        feed = Feed()
        feed.at(1, text("done", "Finished."), audio("done", final=True))
        feed.at(2, text("playing", "Still talking"), audio("playing"))
        feed.at(3, STARTED, vatel.Interruption())
        done, playing = feed.transcript.agent_turns
        assert not done.interrupted and playing.interrupted
        assert feed.transcript.interruptions == (InterruptionTurn(3, ("playing",)),)


class TestThreads:
    @pytest.mark.timeout(20)
    def test_outputs_from_other_threads_and_readers_lose_nothing(self) -> None:
        calls = 600
        transcript = vatel.Transcript(max_turns=2 * calls)
        ready = threading.Semaphore(0)
        stop = threading.Event()
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for n in range(calls):
                    ready.acquire()
                    transcript._on_tool_output(f"c{n}", f"out {n}")
            except BaseException as exc:
                errors.append(exc)

        def reader() -> None:
            try:
                while not stop.is_set():
                    assert len(transcript.turns) >= 0 and transcript.latency is not None
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker), threading.Thread(target=reader)]
        for thread in threads:
            thread.start()
        try:
            for n in range(calls):
                transcript._on_event(vatel.ToolCall(tool_call_id=f"c{n}", tool_name="t"))
                ready.release()
                transcript._on_event(audio(f"a{n}", final=True))
        finally:
            threads[0].join(15)
            stop.set()
            threads[1].join(15)
        assert not errors, errors
        assert [t.output for t in transcript.tool_calls] == [f"out {n}" for n in range(calls)]
        assert len(transcript.agent_turns) == calls


# -- fed from real sessions ------------------------------------------------------------------

GREETING = "Hello, this is the weather line."
SPEECH_SECONDS = 0.8
UTTERANCE = voice_like(SPEECH_SECONDS) + silence(0.8)


@pytest.mark.timeout(30)
def test_a_real_session_makes_the_transcript_the_mock_heard_and_said(
    flavour: Flavour, client: vatel.Client, server: MockServer
) -> None:
    agent_id = client.agents.create(name="Transcript", first_message=GREETING).id
    server.add_client_tool(
        agent_id, "get_weather", arguments=[{"name": "city", "dataType": "string", "value": "Oslo"}]
    )
    session = flavour.open(server, client.session_token(agent_id))
    transcript = session.conn.transcript  # fed by the connection itself
    spoken = False
    for event in session.iterate():
        if isinstance(event, vatel.ResponseAudio) and event.is_final and not spoken:
            spoken = True  # after the greeting
            for start in range(0, len(UTTERANCE), FRAME_BYTES):
                chunk = UTTERANCE[start : start + FRAME_BYTES]
                session.send_audio(chunk)
        elif isinstance(event, vatel.ToolCall):
            session.send_tool_output(event.tool_call_id, WEATHER)
        elif isinstance(event, vatel.ResponseAudio) and event.is_final:
            server.end_session()
    mock = server.sessions[-1]
    assert mock.wait_closed(5)
    said = [m.data["text"] for m in mock.sent if m.type == "response_text" and m.data["is_final"]]
    sent_audio = sum(
        len(base64.b64decode(m.data["audio"])) for m in mock.sent if m.type == "response_audio"
    )

    kinds = [turn.kind for turn in transcript.turns]
    assert kinds == ["agent", "user", "tool_call", "agent"]
    (user,) = transcript.user_turns
    assert user.text == transcript_text(SPEECH_SECONDS)
    assert [turn.text for turn in transcript.agent_turns] == said == [GREETING, said[1]]
    assert WEATHER in said[1]
    (call,) = transcript.tool_calls
    assert (call.name, dict(call.arguments), call.output) == (
        "get_weather",
        {"city": "Oslo"},
        WEATHER,
    )
    assert all(turn.finished and not turn.interrupted for turn in transcript.agent_turns)
    assert sum(t.audio_seconds for t in transcript.agent_turns) == pytest.approx(
        sent_audio / 48_000
    )
    assert transcript.input_audio_seconds == pytest.approx(len(UTTERANCE) / 48_000)

    greeting, reply = transcript.agent_turns
    assert greeting.response_latency is None
    assert user.speech_started_at is not None and user.speech_stopped_at is not None
    assert user.speech_started_at <= user.speech_stopped_at <= user.at <= call.at
    assert call.answered_at is not None and call.at <= call.answered_at <= reply.at
    assert reply.first_audio_at is not None and reply.at <= reply.first_audio_at
    assert user.transcript_latency is not None and user.transcript_latency >= 0
    assert reply.response_latency == user.response_latency
    assert user.response_latency is not None and user.response_latency >= 0
    latency = transcript.latency
    assert (latency.response.count, latency.transcript.count, latency.unanswered) == (1, 1, 0)
