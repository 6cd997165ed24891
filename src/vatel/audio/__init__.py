"""Audio helpers for Vatel voice sessions (PCM16, 24 kHz, mono).

Everything here is pure Python and cheap to import. :class:`Microphone` and
:class:`Speaker` need the optional extra (``pip install 'vatel[audio]'``), which is
imported only when one of them is created.
"""

from __future__ import annotations

from ._base64 import decode_base64, encode_base64
from ._chunks import chunks
from ._convert import convert, resample
from ._devices import Microphone, Speaker
from ._format import (
    BYTES_PER_SECOND,
    CHANNELS,
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    duration_of,
)
from ._pacer import apaced, paced
from ._signals import rms, silence, tone, voice_like
from ._wav import WavInfo, WavWriter, read_wav, wav_info, write_wav

__all__ = [
    "BYTES_PER_SECOND",
    "CHANNELS",
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "Microphone",
    "Speaker",
    "WavInfo",
    "WavWriter",
    "apaced",
    "chunks",
    "convert",
    "decode_base64",
    "duration_of",
    "encode_base64",
    "paced",
    "read_wav",
    "resample",
    "rms",
    "silence",
    "tone",
    "voice_like",
    "wav_info",
    "write_wav",
]
