"""Audio helpers for Vatel voice sessions (PCM16, 24 kHz, mono).

Everything here is pure Python and cheap to import. Wherever PCM16 audio goes in,
bytes or any C-contiguous buffer of 16-bit samples does (``array.array("h")``, a
numpy ``int16`` array). Phone audio (G.711 μ-law and A-law at 8 kHz) converts to and
from session audio with :func:`from_telephony` / :func:`to_telephony`, or frame by
frame with :class:`TelephonyDecoder` / :class:`TelephonyEncoder`.

:class:`Microphone` and :class:`Speaker` need the optional extra
(``pip install 'vatel[audio]'``), which is imported only when one of them is created.
"""

from __future__ import annotations

from ._base64 import decode_base64, encode_base64
from ._chunks import chunks
from ._convert import convert, float_to_pcm16, resample
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
from ._g711 import (
    TelephonyDecoder,
    TelephonyEncoder,
    alaw_to_pcm16,
    from_telephony,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    to_telephony,
    ulaw_to_pcm16,
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
    "TelephonyDecoder",
    "TelephonyEncoder",
    "WavInfo",
    "WavWriter",
    "alaw_to_pcm16",
    "apaced",
    "chunks",
    "convert",
    "decode_base64",
    "duration_of",
    "encode_base64",
    "float_to_pcm16",
    "from_telephony",
    "paced",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "read_wav",
    "resample",
    "rms",
    "silence",
    "to_telephony",
    "tone",
    "ulaw_to_pcm16",
    "voice_like",
    "wav_info",
    "write_wav",
]
