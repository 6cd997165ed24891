"""G.711 μ-law and A-law, and converting a phone call's audio to and from session audio.

Expected values come from the G.711 definition, not from the code under test:
literal codes and levels, and a reference written here from the segment and
quantisation rules (segment found by bit length, not by table or search).
"""

from __future__ import annotations

import array
import itertools
import math
import tracemalloc
import warnings
from collections.abc import Callable

import pytest

from vatel import AudioFormatError
from vatel.audio import (
    TelephonyDecoder,
    TelephonyEncoder,
    alaw_to_pcm16,
    from_telephony,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    to_telephony,
    ulaw_to_pcm16,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = array.array("h", range(-32768, 32768)).tobytes()
if array.array("h", [1]).tobytes() != b"\x01\x00":  # big-endian machine: PCM16 is LE
    _swap = array.array("h", range(-32768, 32768))
    _swap.byteswap()
    ALL_SAMPLES = _swap.tobytes()


def values(pcm: bytes) -> list[int]:
    return [int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm), 2)]


def le16(samples: list[int]) -> bytes:
    return b"".join(v.to_bytes(2, "little", signed=True) for v in samples)


# --- the reference, from the definition -------------------------------------------------
# μ-law: a 14-bit magnitude m (the sample's top 14 bits), biased by 33, lies in
# segment s = bit_length - 6 (0..7), step q = the 4 bits below the leading one; the
# code is the sign, s and q, all inverted. Decoding gives the step's midpoint,
# ((2q + 33) << s) - 33, times 4 for 16 bits.
# A-law: a 13-bit magnitude m (one's complement for negatives) lies in segment 0 for
# m < 32 (step m // 2), otherwise s = bit_length - 5, step q = the 4 bits below the
# leading one; even bits are inverted (xor 0x55) and bit 7 set for positive values.
# Decoding gives 2q + 1 in segment 0, (2q + 33) << (s - 1) above, times 8.


def ref_ulaw_decode(code: int) -> int:
    inverted = code ^ 0xFF
    negative, segment, step = inverted >> 7, (inverted >> 4) & 7, inverted & 15
    magnitude = 4 * (((2 * step + 33) << segment) - 33)
    return -magnitude if negative else magnitude


def ref_ulaw_encode(sample: int) -> int:
    top14 = sample >> 2
    negative = top14 < 0
    biased = min(abs(top14) + 33, 2**13 - 1)
    segment = biased.bit_length() - 6
    step = (biased >> (segment + 1)) - 16
    return ((negative << 7) | (segment << 4) | step) ^ 0xFF


def ref_alaw_decode(code: int) -> int:
    plain = code ^ 0x55
    positive, segment, step = plain >> 7, (plain >> 4) & 7, plain & 15
    magnitude = 8 * ((2 * step + 1) if segment == 0 else (2 * step + 33) << (segment - 1))
    return magnitude if positive else -magnitude


def ref_alaw_encode(sample: int) -> int:
    top13 = sample >> 3
    positive = top13 >= 0
    magnitude = top13 if positive else -top13 - 1
    if magnitude < 32:
        segment, step = 0, magnitude // 2
    else:
        segment = magnitude.bit_length() - 5
        step = (magnitude >> segment) - 16
    return ((positive << 7) | (segment << 4) | step) ^ 0x55


# --- known values --------------------------------------------------------------------


def test_ulaw_known_codes_and_zero() -> None:
    assert values(ulaw_to_pcm16(bytes([0x00, 0x80, 0xFF, 0x7F]))) == [-32124, 32124, 0, 0]
    assert pcm16_to_ulaw(le16([0])) == b"\xff"
    assert pcm16_to_ulaw(le16([32767, -32768])) == b"\x80\x00"


def test_alaw_known_codes_and_zero() -> None:
    assert values(alaw_to_pcm16(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]
    assert pcm16_to_alaw(le16([0])) == b"\xd5"
    assert pcm16_to_alaw(le16([32767, -32768])) == b"\xaa\x2a"


@pytest.mark.parametrize(
    ("decode", "reference"),
    [(ulaw_to_pcm16, ref_ulaw_decode), (alaw_to_pcm16, ref_alaw_decode)],
    ids=["ulaw", "alaw"],
)
def test_decoding_all_256_codes_matches_the_definition(
    decode: Callable[[bytes], bytes], reference: Callable[[int], int]
) -> None:
    assert values(decode(ALL_CODES)) == [reference(code) for code in ALL_CODES]


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(pcm16_to_ulaw, ref_ulaw_encode), (pcm16_to_alaw, ref_alaw_encode)],
    ids=["ulaw", "alaw"],
)
def test_encoding_all_65536_samples_matches_the_definition(
    encode: Callable[[bytes], bytes], reference: Callable[[int], int]
) -> None:
    expected = bytes(reference(sample) for sample in range(-32768, 32768))
    assert encode(ALL_SAMPLES) == expected


def test_same_bytes_as_audioop_where_it_still_exists() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop is gone from this Python")
        assert pcm16_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
        assert pcm16_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
        assert ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
        assert alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_decode_then_encode_gives_every_code_back() -> None:
    ulaw_back = pcm16_to_ulaw(ulaw_to_pcm16(ALL_CODES))
    # 0x7F is μ-law's negative zero: it decodes to 0, which encodes as positive zero.
    assert [c for c in range(256) if ulaw_back[c] != c] == [0x7F]
    assert ulaw_back[0x7F] == 0xFF
    assert pcm16_to_alaw(alaw_to_pcm16(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(pcm16_to_ulaw, ulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)],
    ids=["ulaw", "alaw"],
)
def test_quantising_keeps_order_and_relative_error(
    encode: Callable[[bytes], bytes], decode: Callable[[bytes], bytes]
) -> None:
    out = values(decode(encode(ALL_SAMPLES)))
    assert all(a <= b for a, b in itertools.pairwise(out))  # louder never decodes quieter
    # Companding: the error grows with the level, about 1/32 of it at most (5 bits).
    for sample, back in zip(range(-32768, 32768, 97), out[::97], strict=True):
        assert abs(back - sample) <= max(abs(sample) / 25, 40)


def test_codecs_accept_buffers_and_refuse_what_is_not_audio() -> None:
    codes = bytes([0x00, 0x80, 0xFF])
    assert ulaw_to_pcm16(array.array("B", codes)) == ulaw_to_pcm16(codes)
    assert alaw_to_pcm16(memoryview(bytearray(codes))) == alaw_to_pcm16(codes)
    assert pcm16_to_ulaw(array.array("h", [0, 32767])) == b"\xff\x80"
    with pytest.raises(AudioFormatError, match="float32"):
        pcm16_to_ulaw(array.array("f", [0.5]))
    with pytest.raises(AudioFormatError, match="even number"):
        pcm16_to_alaw(b"\x00\x00\x00")
    with pytest.raises(AudioFormatError, match="int16"):
        ulaw_to_pcm16(array.array("h", [1]))  # μ-law is one byte a sample
    with pytest.raises(AudioFormatError, match="str"):
        ulaw_to_pcm16("\xff\x7f")  # type: ignore[arg-type]


# --- a call's audio ------------------------------------------------------------------

FRAME = 160  # 20 ms of G.711 at 8 kHz


def tone_8k(seconds: float, freq: float = 440.0, level: float = 12_000) -> bytes:
    count = round(8000 * seconds)
    return le16([round(level * math.sin(2 * math.pi * freq * n / 8000)) for n in range(count)])


def in_frames(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
def test_one_shot_conversions_have_the_session_and_call_formats(encoding: str) -> None:
    call = (pcm16_to_ulaw if encoding == "ulaw" else pcm16_to_alaw)(tone_8k(0.5))
    session = from_telephony(call, encoding)  # type: ignore[arg-type]
    assert len(session) == 3 * 2 * len(call)  # 8 kHz bytes → 24 kHz PCM16
    back = to_telephony(session, encoding)  # type: ignore[arg-type]
    assert len(back) == len(call)
    # The tone survives the trip: mid-signal, decoded levels stay close to the original.
    decode = ulaw_to_pcm16 if encoding == "ulaw" else alaw_to_pcm16
    original, returned = values(decode(call)), values(decode(back))
    assert (
        max(abs(a - b) for a, b in zip(original[100:-100], returned[100:-100], strict=True)) < 1200
    )


def test_unknown_encoding_or_rate_is_a_typed_error() -> None:
    with pytest.raises(AudioFormatError, match=r"'pcmu'.*'ulaw'"):
        from_telephony(b"\xff", "pcmu")  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="rate"):
        to_telephony(b"\x00\x00", rate=0)
    with pytest.raises(AudioFormatError, match="encoding"):
        TelephonyDecoder("g729")  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="rate"):
        TelephonyEncoder(rate=8000.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_decoder_over_20ms_frames_equals_the_one_shot_conversion(encoding: str, rate: int) -> None:
    encode = pcm16_to_ulaw if encoding == "ulaw" else pcm16_to_alaw
    call = encode(tone_8k(0.6) + tone_8k(0.3, freq=1300))
    decoder = TelephonyDecoder(encoding, rate)  # type: ignore[arg-type]
    streamed = b"".join(decoder.decode(frame) for frame in in_frames(call, rate // 50))
    streamed += decoder.flush()
    assert streamed == from_telephony(call, encoding, rate)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
def test_encoder_over_agent_chunks_equals_the_one_shot_conversion(encoding: str) -> None:
    agent = from_telephony(pcm16_to_ulaw(tone_8k(0.5, freq=700)))
    encoder = TelephonyEncoder(encoding)  # type: ignore[arg-type]
    # Agent audio comes in chunks of any size, not always whole milliseconds.
    sizes = [960, 480, 2, 1922, 960, 34]
    pieces, start = [], 0
    while start < len(agent):
        size = sizes[len(pieces) % len(sizes)]
        pieces.append(encoder.encode(agent[start : start + size]))
        start += size
    streamed = b"".join(pieces) + encoder.flush()
    assert streamed == to_telephony(agent, encoding)  # type: ignore[arg-type]


def test_frame_by_frame_decoding_does_not_click_at_frame_edges() -> None:
    call = pcm16_to_ulaw(tone_8k(1.0, freq=440))
    whole = values(from_telephony(call))
    decoder = TelephonyDecoder()
    pieces = [values(decoder.decode(frame)) for frame in in_frames(call, FRAME)]
    streamed = [v for piece in pieces for v in piece]
    edges = [sum(map(len, pieces[:i])) for i in range(1, len(pieces))]
    steps = [abs(b - a) for a, b in itertools.pairwise(streamed)]
    # Across the edges between frames' results the signal moves no more than a
    # 440 Hz tone does between any two samples.
    assert max(steps[e - 1] for e in edges) <= max(steps)
    assert streamed == whole[: len(streamed)]
    # Converting each frame on its own, as if it were a whole recording, does click:
    # each frame's ends are filtered against silence.
    naive = values(b"".join(from_telephony(frame) for frame in in_frames(call, FRAME)))
    assert max(abs(a - b) for a, b in zip(naive, whole, strict=True)) > 2000


def test_flush_starts_afresh_so_an_interrupted_reply_leaves_nothing_behind() -> None:
    first = from_telephony(pcm16_to_ulaw(tone_8k(0.2, freq=500)))
    second = from_telephony(pcm16_to_ulaw(tone_8k(0.2, freq=900)))
    encoder = TelephonyEncoder()
    encoder.encode(first[:4800])
    encoder.flush()  # dropped: the reply was interrupted
    again = encoder.encode(second) + encoder.flush()
    assert again == to_telephony(second)


def test_a_long_call_keeps_memory_bounded() -> None:
    frame = pcm16_to_ulaw(tone_8k(0.02))
    decoder = TelephonyDecoder()
    encoder = TelephonyEncoder()
    tracemalloc.start()
    try:
        for _ in range(10):  # warm up: tables and caches are built once
            encoder.encode(decoder.decode(frame))
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = 0
        for _ in range(150):  # 3 s of call audio, both directions
            out += len(encoder.encode(decoder.decode(frame)))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == 150 * FRAME
    assert current - base < 16 * 1024
    assert peak - base < 256 * 1024
