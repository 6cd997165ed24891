"""Energy-based voice activity detection on 20 ms frames of PCM16 24 kHz mono."""

from __future__ import annotations

import math
import operator
import sys
from array import array
from dataclasses import dataclass

from vatel.audio import FRAME_BYTES, FRAME_MS

DEFAULT_START_SECS = 0.06
"""Speech must last this long before a turn starts (three frames)."""

DEFAULT_STOP_SECS = 0.45
"""This much silence ends the turn."""

DEFAULT_THRESHOLD = 0.02
"""RMS level, as a fraction of full scale, above which a frame counts as speech."""

_FRAME_SECONDS = FRAME_MS / 1000
# Every fourth sample is plenty to measure a frame's energy and keeps this
# per-frame work small when hundreds of sessions stream at once.
_STRIDE = 4


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started speaking."""


@dataclass(frozen=True)
class SpeechStopped:
    """The caller stopped; ``duration`` is the speech in seconds, first to last voiced frame."""

    duration: float


VadEvent = SpeechStarted | SpeechStopped


def _frames(seconds: float) -> int:
    return max(1, math.ceil(round(seconds / _FRAME_SECONDS, 6)))


class EnergyVad:
    """Turns a stream of PCM16 chunks of any even size into speech start/stop events."""

    def __init__(
        self,
        *,
        start_secs: float = DEFAULT_START_SECS,
        stop_secs: float = DEFAULT_STOP_SECS,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.start_frames = _frames(start_secs)
        self.stop_frames = _frames(stop_secs)
        samples = FRAME_BYTES // 2 // _STRIDE
        self._limit = (threshold * 32768) ** 2 * samples
        self._pending = b""
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_frames = 0

    def _voiced(self, frame: bytes) -> bool:
        samples = array("h", frame)
        if sys.byteorder != "little":
            samples.byteswap()
        picked = samples[::_STRIDE]
        energy: int = sum(map(operator.mul, picked, picked))
        return energy > self._limit

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Events caused by ``pcm``, in order (usually none)."""
        data = self._pending + pcm if self._pending else pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        events: list[VadEvent] = []
        for start in range(0, whole, FRAME_BYTES):
            event = self._step(self._voiced(data[start : start + FRAME_BYTES]))
            if event is not None:
                events.append(event)
        return events

    def _step(self, voiced: bool) -> VadEvent | None:
        if not self.in_speech:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self.start_frames:
                self.in_speech = True
                self._speech_frames = self._voiced_run
                self._silent_run = 0
                return SpeechStarted()
            return None
        if voiced:
            self._speech_frames += self._silent_run + 1
            self._silent_run = 0
            return None
        self._silent_run += 1
        if self._silent_run >= self.stop_frames:
            return self.flush()
        return None

    def flush(self) -> SpeechStopped | None:
        """End the current turn now (the caller's audio stopped arriving)."""
        if not self.in_speech:
            return None
        duration = round(self._speech_frames * _FRAME_SECONDS, 3)
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_frames = 0
        return SpeechStopped(duration)
