"""The mock's synthesized audio: the agent's voice, call recordings, WAV files.

Synthesizing speech-like audio sample by sample is slow in pure Python, so a
few seconds are made once per process and every response or recording is cut
from them. The agent's voice is also kept as ready-made base64 chunks: sending
audio then costs no encoding, and the many messages that carry the same chunk
share one string.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import wave

from vatel.audio import (
    CHANNELS,
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    silence,
    voice_like,
)

SECONDS_PER_CHARACTER = 0.065
"""How long the agent takes to say one character of its text (about 15 a second)."""

_AGENT_LOOP_SECONDS = 2.0
"""Length of the agent's voice loop: a whole number of syllables (4 Hz) and pitch periods."""


@functools.cache
def agent_voice() -> bytes:
    """The agent's voice: a seamless loop of vowel-like sound, PCM16 24 kHz mono."""
    return voice_like(_AGENT_LOOP_SECONDS, pitch=200.0, amplitude=0.25)


@functools.cache
def caller_voice() -> bytes:
    """A lower voice for the caller's side of recordings."""
    return voice_like(1.0, pitch=120.0, amplitude=0.3)


@functools.cache
def agent_chunks() -> tuple[str, ...]:
    """The agent's voice loop as base64 strings of one 20 ms chunk each."""
    pcm = agent_voice()
    return tuple(
        base64.b64encode(pcm[i : i + FRAME_BYTES]).decode("ascii")
        for i in range(0, len(pcm), FRAME_BYTES)
    )


def warm() -> None:
    """Synthesize everything now rather than inside a request."""
    agent_chunks()
    caller_voice()


def chunks_for_text(text: str) -> int:
    """How many 20 ms chunks the agent needs to say ``text`` (at least 0.4 s)."""
    seconds = max(0.4, SECONDS_PER_CHARACTER * len(text))
    return math.ceil(seconds * 1000 / FRAME_MS)


def _loop(pcm: bytes, start: int, length: int) -> bytes:
    """``length`` bytes of ``pcm`` played as a loop from byte ``start`` (both even)."""
    out = bytearray()
    pos = start % len(pcm)
    while len(out) < length:
        take = min(length - len(out), len(pcm) - pos)
        out += pcm[pos : pos + take]
        pos = 0
    return bytes(out)


def recording(variant: int) -> bytes:
    """A deterministic two-to-three-second call recording as WAV bytes.

    The agent and the caller take turns with short pauses; ``variant`` changes
    the turn lengths, so different calls have different recordings.
    """
    second = SAMPLE_RATE * SAMPLE_WIDTH
    frame = FRAME_BYTES
    agent_len = (40 + variant % 20) * frame  # 0.8 to 1.2 s
    caller_len = (30 + (variant * 7) % 20) * frame  # 0.6 to 1.0 s
    gap = silence(0.2)
    pcm = b"".join(
        (
            _loop(agent_voice(), variant * frame, agent_len),
            gap,
            _loop(caller_voice(), 0, caller_len),
            gap,
            _loop(agent_voice(), (variant + 50) * frame, second // 2),
        )
    )
    return wav(pcm)


def wav(pcm: bytes) -> bytes:
    """``pcm`` (PCM16 24 kHz mono) wrapped in a WAV container."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return buffer.getvalue()
