"""Base64 transport encoding of session audio inside JSON frames."""

from __future__ import annotations

import base64
import binascii

from typing_extensions import Buffer

from .._exceptions import AudioFormatError
from .._pcm import pcm16_bytes

__all__ = ["decode_base64", "encode_base64"]

_PREVIEW = 40  # characters of bad input quoted in an error message


def encode_base64(pcm: Buffer) -> str:
    """Base64 text of PCM16 audio (bytes or a buffer of 16-bit samples).

    Odd-length or non-integer input raises :class:`~vatel.AudioFormatError`.
    """
    return base64.b64encode(pcm16_bytes(pcm)).decode("ascii")


def decode_base64(data: str) -> bytes:
    """PCM16 audio from base64 text (standard alphabet, padded).

    Raises :class:`~vatel.AudioFormatError` when ``data`` is not valid base64 or
    decodes to an odd number of bytes; the message quotes at most the first 40
    characters of the input.
    """
    if not isinstance(data, (str, bytes)):
        raise AudioFormatError(f"Base64 audio must be a str, not {type(data).__name__}.")
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        preview = data[:_PREVIEW]
        more = "..." if len(data) > _PREVIEW else ""
        raise AudioFormatError(
            f"Invalid base64 audio ({exc}); {len(data)} characters starting {preview!r}{more}."
        ) from None
    if len(pcm) % 2:
        raise AudioFormatError(
            f"Base64 audio decodes to {len(pcm)} bytes, not whole 16-bit samples."
        )
    return pcm
