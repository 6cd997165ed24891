"""PCM16 audio as any buffer: arrays, memoryviews and numpy arrays go wherever bytes do.

One rule everywhere: C-contiguous data of single bytes or 16-bit integers is
taken as is (big-endian declared buffers are swapped to the wire's little-endian);
float samples, other item types, strided views, odd byte counts and non-buffers
are refused with an AudioFormatError that names what was given.
"""

from __future__ import annotations

import array
import ctypes
import io
import struct
from collections.abc import Callable
from typing import Any

import pytest

import vatel
from vatel import AudioFormatError, audio
from vatel._protocol import encode_input_audio_bytes
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

SAMPLES = [0, 1, -1, 32767, -32768, 12345, -4321, 256]
PCM = b"".join(v.to_bytes(2, "little", signed=True) for v in SAMPLES)


def native(values: list[int], code: str = "h") -> array.array[int]:
    """An array.array of ``values`` in this machine's byte order."""
    return array.array(code, values)


def buffers_of_pcm() -> dict[str, Any]:
    """The same eight samples as different buffer types, all meaning PCM."""
    little = (ctypes.c_int16.__ctype_le__ * len(SAMPLES))(*SAMPLES)  # format "<h"
    big = (ctypes.c_int16.__ctype_be__ * len(SAMPLES))(*SAMPLES)  # format ">h": swapped
    forms: dict[str, Any] = {
        "bytes": PCM,
        "bytearray": bytearray(PCM),
        "memoryview": memoryview(PCM),
        "memoryview-h": memoryview(native(SAMPLES)),
        "array-h": native(SAMPLES),
        "array-H": native([v & 0xFFFF for v in SAMPLES], "H"),
        "array-B": array.array("B", PCM),
        "ctypes-le": little,
        "ctypes-be": big,
    }
    return forms


FORMS = buffers_of_pcm()


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_buffer_form_means_the_same_bytes(form: Any) -> None:
    assert audio.encode_base64(form) == audio.encode_base64(PCM)
    assert b"".join(audio.chunks(form, ms=0.125)) == PCM
    assert audio.resample(form, 24_000, 24_000) == PCM
    assert audio.convert(form, sample_rate=24_000) == PCM
    assert audio.pcm16_to_ulaw(form) == audio.pcm16_to_ulaw(PCM)
    assert encode_input_audio_bytes(form) == encode_input_audio_bytes(PCM)
    written = io.BytesIO()
    audio.write_wav(written, form)
    written.seek(0)
    assert audio.read_wav(written) == PCM


def test_numpy_arrays_are_taken_as_pcm() -> None:
    np = pytest.importorskip("numpy")
    assert encode_input_audio_bytes(np.array(SAMPLES, dtype=np.int16)) == (
        encode_input_audio_bytes(PCM)
    )
    assert audio.encode_base64(np.array(SAMPLES, dtype=">i2")) == audio.encode_base64(PCM)
    two_d = np.array(SAMPLES, dtype=np.int16).reshape(4, 2)  # C order: rows one after another
    assert b"".join(audio.chunks(two_d)) == PCM
    with pytest.raises(AudioFormatError, match="C-contiguous"):
        audio.encode_base64(np.array(SAMPLES + SAMPLES, dtype=np.int16)[::2])
    with pytest.raises(AudioFormatError, match="float32 samples: convert them with"):
        encode_input_audio_bytes(np.zeros(4, dtype=np.float32))
    with pytest.raises(AudioFormatError, match="float16"):
        encode_input_audio_bytes(np.zeros(4, dtype=np.float16))
    assert audio.float_to_pcm16(np.array([0.5, -1.0], dtype=np.float32)) == struct.pack(
        "<2h", 16384, -32767
    )


ENTRY_POINTS: dict[str, Callable[[Any], object]] = {
    "encode_input_audio_bytes": encode_input_audio_bytes,
    "encode_base64": audio.encode_base64,
    "chunks": audio.chunks,
    "resample": lambda pcm: audio.resample(pcm, 8_000, 24_000),
    "convert": lambda pcm: audio.convert(pcm, sample_rate=16_000),
    "write_wav": lambda pcm: audio.write_wav(io.BytesIO(), pcm),
    "WavWriter.write": lambda pcm: audio.WavWriter(io.BytesIO()).write(pcm),
    "pcm16_to_ulaw": audio.pcm16_to_ulaw,
    "to_telephony": audio.to_telephony,
    "TelephonyEncoder.encode": lambda pcm: audio.TelephonyEncoder().encode(pcm),
}

BAD_INPUTS = {
    "float32": (array.array("f", [0.25, -0.5]), "float32 samples: convert them with audio."),
    "float64": (array.array("d", [0.25]), "float64 samples: convert them with audio."),
    "int32": (array.array("i", [1, 2]), "not int32"),
    "odd": (b"\x00\x01\x02", "even number of bytes"),
    "str": ("\x00\x01", "not str"),
    "list": ([0, 1], "not list"),
    "int": (4, "not int"),
    "none": (None, "not NoneType"),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
@pytest.mark.parametrize(("bad", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_every_entry_point_refuses_the_same_inputs_the_same_way(
    entry: Callable[[Any], object], bad: Any, message: str
) -> None:
    with pytest.raises(AudioFormatError, match=message.replace(".", r"\.")):
        entry(bad)


def test_an_empty_chunk_is_still_refused_on_the_wire() -> None:
    with pytest.raises(AudioFormatError, match="empty"):
        encode_input_audio_bytes(array.array("h"))


@pytest.mark.parametrize(
    ("floats", "expected"),
    [
        ([0.0, 1.0, -1.0, 0.5, -0.5], [0, 32767, -32767, 16384, -16384]),
        ([1.5, -2.0, float("inf"), float("-inf"), float("nan")], [32767, -32767, 32767, -32767, 0]),
        ([0.25 / 32767, 0.75 / 32767, -0.75 / 32767], [0, 1, -1]),
    ],
    ids=["scale", "clip-and-nan", "rounding"],
)
def test_float_to_pcm16_clips_scales_and_rounds(floats: list[float], expected: list[int]) -> None:
    want = struct.pack(f"<{len(expected)}h", *expected)
    assert audio.float_to_pcm16(array.array("f", floats)) == want
    assert audio.float_to_pcm16(array.array("d", floats)) == want
    assert audio.float_to_pcm16(struct.pack(f"<{len(floats)}f", *floats)) == want  # raw LE bytes


def test_float_to_pcm16_refuses_integers_and_partial_samples() -> None:
    with pytest.raises(AudioFormatError, match="int16"):
        audio.float_to_pcm16(array.array("h", [1, 2]))
    with pytest.raises(AudioFormatError, match="4-byte samples; got 6 bytes"):
        audio.float_to_pcm16(bytes(6))
    with pytest.raises(AudioFormatError, match="not str"):
        audio.float_to_pcm16("0.5")  # type: ignore[arg-type]


# --- over a real voice session ---------------------------------------------------------

SPEECH = audio.voice_like(0.2)
SPEECH_SAMPLES = array.array("h")
SPEECH_SAMPLES.frombytes(SPEECH)
if array.array("h", [1]).tobytes() != b"\x01\x00":  # keep the values, not the bytes
    SPEECH_SAMPLES.byteswap()


def speech_as(kind: str) -> list[Any]:
    """SPEECH in 20 ms pieces, as the given buffer type."""
    pieces = [SPEECH_SAMPLES[i : i + 480] for i in range(0, len(SPEECH_SAMPLES), 480)]
    if kind == "array":
        return pieces
    if kind == "memoryview":
        return [memoryview(piece) for piece in pieces]
    if kind == "bytearray":
        return [bytearray(piece.tobytes()) for piece in pieces]
    np = pytest.importorskip("numpy")
    return [np.array(piece, dtype=np.int16) for piece in pieces]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["array", "memoryview", "bytearray", "numpy"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_buffers_arrive_byte_identical_over_a_voice_session(
    flavour: str, kind: str, server: MockServer
) -> None:
    pieces = speech_as(kind)
    if flavour == "sync":
        with vatel.Client(api_key=server.api_key, base_url=server.base_url) as client:
            token = client.session_token(client.agents.create(name="Buffers").id)
            with client.connect(token) as conn:
                for piece in pieces:
                    conn.send_input_audio_bytes(piece)
                with pytest.raises(AudioFormatError, match="float32"):
                    conn.send_input_audio_bytes(array.array("f", [0.5, 0.5]))
    else:
        async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as aclient:
            agent = await aclient.agents.create(name="Buffers")
            token = await aclient.session_token(agent.id)
            async with aclient.connect(token) as aconn:
                for piece in pieces:
                    await aconn.send_input_audio_bytes(piece)
                with pytest.raises(AudioFormatError, match="float32"):
                    await aconn.send_input_audio_bytes(array.array("f", [0.5, 0.5]))
    session = server.sessions[-1]
    assert session.wait_closed(5)
    assert session.received_audio == SPEECH  # nothing lost, nothing of the float sent
    assert session.rejected == []
