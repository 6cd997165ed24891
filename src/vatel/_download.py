"""Where a streamed download goes: a path (written atomically), an open binary file,
or memory up to a limit."""

from __future__ import annotations

import io
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import httpx

from ._exceptions import APIConnectionError, ResponseTooLargeError

__all__ = [
    "Destination",
    "DownloadSink",
    "MemoryDestination",
    "ProgressCallback",
    "ResponseTooLargeError",
    "content_length",
]

Destination = str | os.PathLike[str] | BinaryIO
"""A file path, or a file object opened for binary writing."""

ProgressCallback = Callable[[int, int | None], None]
"""Called after each chunk with the bytes written so far and the total, if known."""

_NEW_FILE_MODE = 0o666
"""What ``open()`` creates a file with, before the umask (and any default ACL)."""

_TEMP_ATTEMPTS = 100


class MemoryDestination(io.BytesIO):
    """A buffer that refuses to grow past ``max_bytes``.

    Given as the destination of a download, the announced ``Content-Length`` is
    checked before any of the body is read, and the bytes are counted as they
    arrive for a server that announces none (or the wrong one).
    """

    def __init__(self, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        super().__init__()
        self.max_bytes = max_bytes

    def expect(self, total: int | None) -> None:
        """Refuse at once a body announced to be over the limit."""
        if total is not None and total > self.max_bytes:
            raise ResponseTooLargeError(self.max_bytes, total)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.max_bytes:
            raise ResponseTooLargeError(self.max_bytes, None)
        return super().write(data)


def _create_temp(target: Path) -> tuple[BinaryIO, Path]:
    """A new file beside ``target``, created the way ``open(target, "wb")`` would
    create it: mode 0666 less the umask, applied by the kernel. (``mkstemp`` makes
    0600 files, and reading the umask means setting it, which races other threads.)"""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMP_ATTEMPTS):
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            fd = os.open(temp, flags, _NEW_FILE_MODE)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), temp
    raise FileExistsError(f"could not create a temporary file beside {target}")


def _existing_mode(target: Path) -> int | None:
    """The permission bits of a file already at ``target``: ``open()`` would have
    kept them."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return None


def _is_special(target: Path) -> bool:
    """Whether ``target`` is a device, a FIFO or a socket: written in place, as
    ``open()`` would, never replaced by a regular file (think ``/dev/null``)."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


class DownloadSink:
    """Receives the chunks of one download.

    A path is written to a temporary file beside it and renamed into place only
    when the whole body has arrived, so a failed download never leaves a
    truncated file behind; the file gets the mode ``open()`` would give it, and
    a symbolic link stays one (the file it points to is replaced). A device or a
    FIFO is written in place. A file object is written as is and left open. A
    :class:`MemoryDestination` refuses a body over its limit before reading it,
    when the size is announced.
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
        self._opened = False
        self._file: BinaryIO
        if isinstance(destination, MemoryDestination):
            destination.expect(total)
        if isinstance(destination, (str, os.PathLike)):
            path = Path(os.path.realpath(destination))
            if _is_special(path):
                self._file = path.open("wb")
                self._opened = True
            else:
                self._target = path
                self._file, self._temp = _create_temp(path)
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
            try:
                mode = _existing_mode(self._target)
                if mode is not None:
                    os.chmod(self._temp, mode)
                os.replace(self._temp, self._target)
            except BaseException:
                self._temp.unlink(missing_ok=True)
                raise
        elif self._opened:
            self._file.close()
        else:
            self._file.flush()
        return self.written

    def abort(self) -> None:
        """Drop what was written to a path; a caller's file object is left alone."""
        if self._target is not None:
            self._file.close()
            self._temp.unlink(missing_ok=True)
        elif self._opened:
            self._file.close()


def content_length(headers: httpx.Headers) -> int | None:
    """The ``Content-Length`` of a response, when present and sane."""
    value = headers.get("content-length")
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value)
