"""Where a streamed download goes: a path (written atomically) or an open binary file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Union

import httpx

from ._exceptions import APIConnectionError

Destination = Union[str, "os.PathLike[str]", BinaryIO]
"""A file path, or a file object opened for binary writing."""

ProgressCallback = Callable[[int, int | None], None]
"""Called after each chunk with the bytes written so far and the total, if known."""


class DownloadSink:
    """Receives the chunks of one download.

    A path is written to a temporary file beside it and renamed into place only
    when the whole body has arrived, so a failed download never leaves a
    truncated file behind. A file object is written as is and left open.
    """

    def __init__(
        self,
        destination: Destination,
        total: int | None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.total = total
        self.written = 0
        self._on_progress = on_progress
        self._target: Path | None = None
        if isinstance(destination, (str, os.PathLike)):
            self._target = Path(destination)
            fd, temp = tempfile.mkstemp(
                prefix=f".{self._target.name}.", suffix=".part", dir=self._target.parent
            )
            self._temp = Path(temp)
            self._file: BinaryIO = os.fdopen(fd, "wb")
        else:
            self._file = destination

    def write(self, chunk: bytes) -> None:
        """Append one chunk."""
        self._file.write(chunk)
        self.written += len(chunk)
        if self._on_progress is not None:
            self._on_progress(self.written, self.total)

    def commit(self) -> int:
        """Finish after the last chunk; returns the number of bytes written."""
        if self.total is not None and self.written != self.total:
            self.abort()
            raise APIConnectionError(f"Download ended after {self.written} of {self.total} bytes.")
        if self._target is not None:
            self._file.close()
            os.replace(self._temp, self._target)
        else:
            self._file.flush()
        return self.written

    def abort(self) -> None:
        """Drop what was written to a path; a caller's file object is left alone."""
        if self._target is not None:
            self._file.close()
            self._temp.unlink(missing_ok=True)


def content_length(headers: httpx.Headers) -> int | None:
    """The ``Content-Length`` of a response, when present and sane."""
    value = headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)
