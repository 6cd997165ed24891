"""The one gate raw audio passes on its way in: bytes, or any buffer of samples.

Wherever the SDK takes PCM16 audio it also takes anything exposing the buffer
protocol (``bytearray``, ``memoryview``, ``array.array("h")``, a numpy ``int16``
array), as long as the data is C-contiguous and its items are either single
bytes (the raw little-endian stream) or integers of the sample's width. A buffer
declared big-endian (``">h"``) is byte-swapped; native order is what the machine
uses. Float samples are refused with a pointer to :func:`vatel.audio.float_to_pcm16`
rather than reinterpreted, which would turn speech into noise.

This module imports nothing of the audio package, so the voice-session codec can
use it without loading audio helpers.
"""

from __future__ import annotations

import array
import sys

from ._exceptions import AudioFormatError

__all__ = ["buffer_view", "dtype_name", "float_samples", "pcm_bytes", "pcm16_bytes"]

_BYTE_FORMATS = frozenset("Bbc")
_INTEGER_FORMATS = frozenset("hHiIlLqQnN")
_FLOAT_FORMATS = frozenset("efd")
_WIDTH_NAMES = {1: "8-bit", 2: "PCM16", 3: "24-bit", 4: "32-bit"}


def _split_format(fmt: str) -> tuple[str, str]:
    """``(byte order, type code)`` of a struct-style format; order is "little" or "big"."""
    prefix = fmt[:1]
    if prefix in ("<", ">", "!", "=", "@"):
        fmt = fmt[1:]
    order = {"<": "little", ">": "big", "!": "big"}.get(prefix, sys.byteorder)
    return order, fmt


def dtype_name(view: memoryview) -> str:
    """A numpy-style name for the items of ``view`` ("int16", "float32", ...)."""
    _, code = _split_format(view.format)
    bits = 8 * view.itemsize
    if code in _FLOAT_FORMATS:
        return f"float{bits}"
    if code in _INTEGER_FORMATS or code in ("b", "B"):
        return f"{'u' if code.isupper() else ''}int{bits}"
    if code.startswith("Z"):
        return f"complex{bits}"
    if code == "?":
        return "bool"
    return f"items of format {view.format!r}"


def buffer_view(data: object, what: str) -> memoryview:
    """A C-contiguous memoryview of ``data``; :class:`AudioFormatError` otherwise.

    ``what`` names the audio in the message ("PCM16 audio").
    """
    if isinstance(data, str):
        raise AudioFormatError(f"{what} must be bytes or a buffer of samples, not str.")
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise AudioFormatError(
            f"{what} must be bytes or a buffer of samples, not {type(data).__name__}."
        ) from None
    if not view.c_contiguous:
        raise AudioFormatError(
            f"{what} must be C-contiguous; this {type(data).__name__} is a strided view "
            "(copy it first, e.g. numpy.ascontiguousarray)."
        )
    return view


def _swapped(raw: bytes, width: int) -> bytes:
    out = bytearray(len(raw))
    for i in range(width):
        out[i::width] = raw[width - 1 - i :: width]
    return bytes(out)


def pcm_bytes(data: object, sample_width: int = 2, what: str | None = None) -> bytes:
    """The little-endian bytes of integer PCM in ``data``, ``sample_width`` bytes a sample.

    ``data`` is bytes or a C-contiguous buffer of single bytes or of integers
    ``sample_width`` bytes wide. Raises :class:`AudioFormatError` naming the problem
    (type, float or other items, strides, a partial sample); ``what`` names the
    audio in the message.
    """
    if what is None:
        what = f"{_WIDTH_NAMES.get(sample_width, f'{8 * sample_width}-bit')} audio"
    if type(data) is bytes:
        raw = data
    else:
        view = buffer_view(data, what)
        order, code = _split_format(view.format)
        if code in _FLOAT_FORMATS:
            raise AudioFormatError(
                f"{what} must hold integer samples, not {dtype_name(view)} samples: "
                "convert them with audio.float_to_pcm16."
            )
        if code in _BYTE_FORMATS and view.itemsize == 1:
            raw = view.tobytes()
        elif code in _INTEGER_FORMATS and view.itemsize == sample_width:
            raw = view.tobytes()
            if order == "big" and sample_width > 1:
                raw = _swapped(raw, sample_width)
        else:
            raise AudioFormatError(
                f"{what} must be bytes or {8 * sample_width}-bit integer samples, "
                f"not {dtype_name(view)}."
            )
    if len(raw) % sample_width:
        if sample_width == 2:
            raise AudioFormatError(
                f"PCM16 audio needs an even number of bytes (2 per sample); got {len(raw)} bytes."
            )
        raise AudioFormatError(
            f"{what} needs a whole number of {sample_width}-byte samples; got {len(raw)} bytes."
        )
    return raw


def pcm16_bytes(data: object) -> bytes:
    """The little-endian bytes of PCM16 audio in ``data`` (see :func:`pcm_bytes`)."""
    return pcm_bytes(data, 2)


def float_samples(data: object) -> array.array[float]:
    """The samples of a float32 or float64 buffer, in native order.

    Raw bytes are read as little-endian float32, the layout of a float WAV file.
    Raises :class:`AudioFormatError` for anything else.
    """
    what = "Float audio"
    view = buffer_view(data, what)
    order, code = _split_format(view.format)
    if code in _BYTE_FORMATS and view.itemsize == 1:
        order, code = "little", "f"
    elif code not in ("f", "d"):
        raise AudioFormatError(
            f"{what} must be bytes or float32/float64 samples, not {dtype_name(view)}."
        )
    raw = view.tobytes()
    samples: array.array[float] = array.array(code)
    if len(raw) % samples.itemsize:
        raise AudioFormatError(
            f"{what} needs a whole number of {samples.itemsize}-byte samples; got {len(raw)} bytes."
        )
    samples.frombytes(raw)
    if order != sys.byteorder:
        samples.byteswap()
    return samples
