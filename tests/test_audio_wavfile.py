"""WAV files: reading headers and data, rejecting what is not PCM, writing session audio."""

from __future__ import annotations

import io
import struct
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from vatel import AudioFormatError
from vatel.audio import WavInfo, WavWriter, read_wav, tone, wav_info, write_wav

PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def fmt_body(
    tag: int = 1, channels: int = 1, rate: int = 24_000, bits: int = 16, extensible: int = 0
) -> bytes:
    """A fmt chunk body; ``extensible`` is the sub-format tag of a WAVE_FORMAT_EXTENSIBLE one."""
    width = (bits + 7) // 8
    body = struct.pack(
        "<HHIIHH",
        0xFFFE if extensible else tag,
        channels,
        rate,
        rate * channels * width,
        channels * width,
        bits,
    )
    if extensible:
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", extensible) + PCM_GUID_TAIL
    return body


def riff(*chunks: tuple[bytes, bytes], form: bytes = b"WAVE") -> bytes:
    """A RIFF file from ``(id, body)`` chunks, with odd bodies padded as the format requires."""
    payload = b"".join(
        cid + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
        for cid, body in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + form + payload


def pcm16(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(2, "little", signed=True) for v in values)


# --- reading -------------------------------------------------------------------------


def test_wav_info_reports_the_header(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(3)
        out.setframerate(44_100)
        out.writeframes(bytes(6 * 4410))

    info = wav_info(path)

    assert info == WavInfo(sample_rate=44_100, channels=2, sample_width=3, frames=4410)
    assert info.duration == pytest.approx(0.1)


def test_session_format_file_reads_back_unchanged(tmp_path: Path) -> None:
    pcm = tone(440, 0.25)
    write_wav(tmp_path / "t.wav", pcm)
    assert read_wav(tmp_path / "t.wav") == pcm
    assert read_wav(str(tmp_path / "t.wav")) == pcm


def test_reads_from_binary_files_seekable_or_not(tmp_path: Path) -> None:
    pcm = tone(440, 0.1)
    buffer = io.BytesIO()
    write_wav(buffer, pcm)
    data = buffer.getvalue()

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, target: bytearray) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(target), 1000))
            target[: len(chunk)] = chunk
            return len(chunk)

    assert read_wav(io.BytesIO(data)) == pcm
    assert read_wav(io.BufferedReader(Pipe())) == pcm  # type: ignore[type-var]
    assert wav_info(io.BufferedReader(Pipe())).frames == len(pcm) // 2  # type: ignore[type-var]
    (tmp_path / "f.wav").write_bytes(data)
    with open(tmp_path / "f.wav", "rb") as file:
        assert read_wav(file) == pcm
        assert not file.closed


def test_extra_chunks_and_odd_sizes_are_skipped() -> None:
    data = riff(
        (b"LIST", b"INFOjunk!"),  # odd length: followed by a pad byte
        (b"fmt ", fmt_body()),
        (b"fact", b"\x00\x00\x00\x00"),
        (b"data", pcm16([1, -2, 3])),
    )
    assert read_wav(io.BytesIO(data)) == pcm16([1, -2, 3])


def test_extensible_header_with_pcm_is_read() -> None:
    # Many tools write 24-bit audio with WAVE_FORMAT_EXTENSIBLE; the stdlib reader
    # only understands it from Python 3.12.
    samples = [0x123456, -0x10000, 0]
    data = riff(
        (b"fmt ", fmt_body(bits=24, channels=1, extensible=1)),
        (b"data", b"".join(v.to_bytes(3, "little", signed=True) for v in samples)),
    )

    assert read_wav(io.BytesIO(data)) == pcm16([0x1234, -0x100, 0])
    info = wav_info(io.BytesIO(data))
    assert (info.sample_width, info.frames) == (3, 3)


def test_truncated_data_keeps_the_whole_frames() -> None:
    body = pcm16([10, 20, 30, 40]) + b"\x05"
    data = riff((b"fmt ", fmt_body(channels=2)), (b"data", body))
    out = read_wav(io.BytesIO(data[:-1]))  # drops the pad byte: file ends mid-frame
    assert out == pcm16([15, 35])


def test_bytes_are_not_mistaken_for_a_path() -> None:
    with pytest.raises(TypeError, match="BytesIO"):
        read_wav(b"RIFF....")  # type: ignore[arg-type]


def wav_with(fmt: bytes, data: bytes = bytes(8)) -> bytes:
    return riff((b"fmt ", fmt), (b"data", data))


BAD_FILES = {
    "empty": (b"", ["empty"]),
    "mp3": (b"ID3\x04" + bytes(100), ["Not a WAV file", "ID3", "MP3"]),
    "avi": (b"RIFF\x04\x00\x00\x00AVI ", ["Not a WAV file", "AVI"]),
    "short": (b"RIFF\x24", ["Not a WAV file", "5 bytes"]),
    "rifx": (b"RIFX" + bytes(40), ["RIFX", "Supported"]),
    "float-24-bit": (
        wav_with(fmt_body(tag=3, bits=24), bytes(6)),
        ["24-bit IEEE float", "Supported", "64-bit IEEE float"],
    ),
    "ulaw-16-bit": (wav_with(fmt_body(tag=7, bits=16)), ["16-bit mu-law", "8-bit mu-law"]),
    "alaw-no-channels": (wav_with(fmt_body(tag=6, bits=8, channels=0)), ["0 channels"]),
    "float-no-rate": (wav_with(fmt_body(tag=3, bits=32, rate=0)), ["0 Hz"]),
    "mp3-in-wav": (wav_with(fmt_body(tag=0x55, bits=0)), ["MP3"]),
    "unknown-tag": (wav_with(fmt_body(tag=0x1234)), ["0x1234"]),
    "extensible-adpcm": (
        wav_with(fmt_body(bits=4, extensible=2)),
        ["Microsoft ADPCM", "extensible"],
    ),
    "64-bit": (wav_with(fmt_body(bits=64), bytes(16)), ["64 bits"]),
    "no-channels": (wav_with(fmt_body(channels=0)), ["0 channels"]),
    "no-rate": (wav_with(fmt_body(rate=0)), ["0 Hz"]),
    "short-fmt": (wav_with(fmt_body()[:10]), ["fmt chunk"]),
    "no-data": (riff((b"fmt ", fmt_body())), ["no data chunk"]),
    "no-fmt": (riff((b"data", bytes(8))), ["fmt"]),
    "data-first": (riff((b"data", bytes(8)), (b"fmt ", fmt_body())), ["before fmt"]),
}


@pytest.mark.parametrize(("data", "fragments"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_malformed_or_non_pcm_files_raise_a_clear_error(data: bytes, fragments: list[str]) -> None:
    for call in (read_wav, wav_info):
        with pytest.raises(AudioFormatError) as caught:
            call(io.BytesIO(data))
        for fragment in fragments:
            assert fragment in str(caught.value)


# --- float, 32-bit and G.711 files, written here byte by byte ------------------------


def float_wav(values: list[float], *, bits: int = 32, extensible: bool = False, **kw: int) -> bytes:
    code = "f" if bits == 32 else "d"
    body = struct.pack(f"<{len(values)}{code}", *values)
    fmt = (
        fmt_body(bits=bits, extensible=3, **kw) if extensible else fmt_body(tag=3, bits=bits, **kw)
    )
    return wav_with(fmt, body)


FLOATS = [0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 0.25 / 32767, 0.75 / 32767]
FLOATS_AS_PCM16 = [0, 16384, -16384, 32767, -32767, 32767, -32767, 0, 1]


@pytest.mark.parametrize(
    "layout",
    [{"bits": 32}, {"bits": 64}, {"bits": 32, "extensible": True}],
    ids=["float32", "float64", "extensible-float32"],
)
def test_float_files_read_as_clipped_scaled_rounded_pcm16(layout: dict[str, Any]) -> None:
    data = float_wav(FLOATS, **layout)
    assert read_wav(io.BytesIO(data)) == pcm16(FLOATS_AS_PCM16)
    info = wav_info(io.BytesIO(data))
    assert info == WavInfo(24_000, 1, layout["bits"] // 8, len(FLOATS), "float")


def test_stereo_float_file_averages_its_channels() -> None:
    data = float_wav([0.5, 0.25, -1.0, -1.0], channels=2)  # two frames
    assert read_wav(io.BytesIO(data)) == pcm16([12288, -32767])


def test_32_bit_integer_file_keeps_the_top_16_bits() -> None:
    samples = [0x12345678, -0x12345678, 0x7FFFFFFF, -0x80000000, 0xFFFF]
    data = wav_with(fmt_body(bits=32), struct.pack("<5i", *samples))
    assert read_wav(io.BytesIO(data)) == pcm16([0x1234, -0x1235, 0x7FFF, -0x8000, 0])
    assert wav_info(io.BytesIO(data)) == WavInfo(24_000, 1, 4, 5, "pcm")


def test_32_bit_integer_extensible_file_is_read() -> None:
    data = wav_with(fmt_body(bits=32, extensible=1), struct.pack("<2i", 0x40000000, -0x40000000))
    assert read_wav(io.BytesIO(data)) == pcm16([0x4000, -0x4000])


@pytest.mark.parametrize(
    ("tag", "codes", "expected", "encoding"),
    [
        (7, [0xFF, 0x80, 0x00, 0x7F], [0, 32124, -32124, 0], "ulaw"),
        (6, [0xD5, 0x55, 0xAA, 0x2A], [8, -8, 32256, -32256], "alaw"),
    ],
    ids=["mu-law", "a-law"],
)
def test_g711_files_are_decoded(
    tag: int, codes: list[int], expected: list[int], encoding: str
) -> None:
    data = wav_with(fmt_body(tag=tag, bits=8), bytes(codes))  # 24 kHz: no resampling
    assert read_wav(io.BytesIO(data)) == pcm16(expected)
    assert wav_info(io.BytesIO(data)) == WavInfo(24_000, 1, 1, 4, encoding)  # type: ignore[arg-type]


def test_an_8khz_mulaw_file_lasts_as_long_at_24khz() -> None:
    data = wav_with(fmt_body(tag=7, bits=8, rate=8_000), bytes([0xFF]) * 800)  # 0.1 s of zeros
    assert read_wav(io.BytesIO(data)) == bytes(2 * 2400)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")


# --- writing -------------------------------------------------------------------------


def test_wav_writer_output_reads_back_with_the_stdlib(tmp_path: Path) -> None:
    pcm = tone(440, 0.5)
    path = tmp_path / "out.wav"

    with WavWriter(path) as writer:
        for start in range(0, len(pcm), 960):
            writer.write(pcm[start : start + 960])
        assert writer.frames_written == 12_000
        assert writer.duration == pytest.approx(0.5)

    assert writer.closed
    with wave.open(str(path), "rb") as back:
        assert back.getframerate() == 24_000
        assert back.getsampwidth() == 2
        assert back.getnchannels() == 1
        assert back.getnframes() == 12_000
        frames = back.readframes(12_000)
    if sys.byteorder == "big":
        frames = b"".join(
            frames[i + 1 : i + 2] + frames[i : i + 1] for i in range(0, len(frames), 2)
        )
    assert frames == pcm


def test_wav_writer_leaves_a_given_file_open_and_rejects_bad_writes() -> None:
    buffer = io.BytesIO()
    writer = WavWriter(buffer, sample_rate=16_000)
    writer.write(b"")
    with pytest.raises(AudioFormatError):
        writer.write(b"\x00\x00\x00")
    writer.write(b"\x01\x00\x02\x00")
    writer.close()
    writer.close()

    assert not buffer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"\x00\x00")
    buffer.seek(0)
    assert wav_info(buffer) == WavInfo(16_000, 1, 2, 2)


def test_empty_wav_writer_makes_a_valid_file(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "e.wav"):
        pass
    assert wav_info(tmp_path / "e.wav").frames == 0
    assert read_wav(tmp_path / "e.wav") == b""


def test_write_wav_works_on_a_stream_that_cannot_seek() -> None:
    class Sink(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

    sink = Sink()
    pcm = tone(1000, 0.05)

    write_wav(sink, pcm, sample_rate=8_000)  # type: ignore[arg-type]

    with wave.open(io.BytesIO(bytes(sink.data)), "rb") as back:
        assert (back.getframerate(), back.getnframes()) == (8_000, len(pcm) // 2)


def test_write_wav_rejects_odd_audio_and_bad_rates(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError):
        write_wav(tmp_path / "a.wav", b"\x00")
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(tmp_path / "b.wav", b"", sample_rate=0)
