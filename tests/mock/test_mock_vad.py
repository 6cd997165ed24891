"""The mock's energy-based voice detection, without sockets."""

from __future__ import annotations

from vatel.audio import FRAME_BYTES, silence, tone, voice_like
from vatel.testing._vad import EnergyVad, SpeechStarted, SpeechStopped


def feed_in(vad: EnergyVad, pcm: bytes, size: int) -> list[object]:
    events: list[object] = []
    for start in range(0, len(pcm), size):
        events += vad.feed(pcm[start : start + size])
    return events


def test_a_turn_starts_after_start_secs_and_ends_after_stop_secs() -> None:
    vad = EnergyVad(start_secs=0.06, stop_secs=0.4)
    assert vad.feed(voice_like(0.04)) == []  # two frames: not yet
    assert vad.feed(voice_like(0.02)) == [SpeechStarted()]
    assert vad.in_speech
    assert vad.feed(voice_like(0.94) + silence(0.38)) == []
    assert vad.feed(silence(0.02)) == [SpeechStopped(1.0)]
    assert not vad.in_speech


def test_chunk_sizes_do_not_matter() -> None:
    pcm = silence(0.2) + voice_like(0.7) + silence(0.5)
    expected = [SpeechStarted(), SpeechStopped(0.7)]
    for size in (FRAME_BYTES, 2, 322, 4000, len(pcm)):
        assert feed_in(EnergyVad(), pcm, size) == expected


def test_short_gaps_stay_inside_the_turn() -> None:
    pcm = voice_like(0.5) + silence(0.2) + voice_like(0.3) + silence(0.5)
    assert feed_in(EnergyVad(stop_secs=0.45), pcm, FRAME_BYTES) == [
        SpeechStarted(),
        SpeechStopped(1.0),
    ]


def test_quiet_sound_and_clicks_are_not_speech() -> None:
    vad = EnergyVad()
    assert vad.feed(tone(440, 1.0, amplitude=0.005)) == []
    assert vad.feed(voice_like(0.04) + silence(0.1) + voice_like(0.02)) == []


def test_flush_ends_a_turn_early() -> None:
    vad = EnergyVad()
    assert vad.flush() is None
    vad.feed(voice_like(0.5))
    assert vad.flush() == SpeechStopped(0.5)
    assert vad.flush() is None
