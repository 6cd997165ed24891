"""Streaming input audio while a session runs: the sender behind ``run(audio=...)``.

The blocking form sends from one daemon thread, the asyncio form from one task.
Both take the caller's chunks one at a time, hold each back until the audio
before it would have finished playing (through :func:`vatel.audio.paced` /
:func:`vatel.audio.apaced`), and stop as soon as the session ends: no chunk is
pulled after that, and the iterator they took is closed.

A failure on the sending side (the iterable raised, a chunk is not PCM16, a send
the server did not take in time) is kept; the session is closed with 1011 and
``run()`` raises it. 1011 ("internal error", either side may send it) rather
than 1000: the call did not end as the caller meant, and the server's record of
it should say so. A send refused because the session already closed is no
failure of ours: the receiving side reports why it closed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from typing_extensions import Buffer

from ._exceptions import AudioFormatError, ConnectionClosedError, SessionEndedError
from ._pcm import pcm16_bytes

if TYPE_CHECKING:
    import asyncio

    from ._async_connection import AsyncConnection
    from ._connection import Connection

# ``asyncio`` (about 20 ms of imports) loads with the first asyncio use here, not
# with the module: a blocking session imports this for its ``AudioInput`` alone.

__all__ = ["AudioInput", "AsyncSender", "FAILURE_CLOSE_CODE", "SyncSender", "check_options"]

log = logging.getLogger("vatel")

AudioInput = Buffer | Iterable[Buffer] | AsyncIterable[Buffer]
"""What ``run(audio=...)`` takes: the whole audio as one buffer (sent in 20 ms
chunks), or an iterable or async iterable of chunks."""

FAILURE_CLOSE_CODE = 1011
FAILURE_CLOSE_REASON = "the client's input audio failed"

STOP_GRACE = 2.0
"""Seconds the blocking ``run()`` waits, once the session is over, for a sender
stuck inside the caller's iterable; after that the thread is left to stop (and
close the iterator) on its own when the iterable returns."""

_SETTLE_STEPS = 3

# Pacing reads the time and waits through these, so that tests can drive it
# with simulated time.
_clock: Callable[[], float] = time.monotonic


def _wait(stopped: threading.Event, seconds: float) -> None:
    """The blocking sender's sleep: cut short when the session ends."""
    stopped.wait(seconds)


async def _asleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


# -- checking what run() was given ------------------------------------------------------


def _is_buffer(audio: object) -> bool:
    if isinstance(audio, (bytes, bytearray, memoryview)):
        return True
    if isinstance(audio, str):
        return False
    try:
        memoryview(audio)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def check_options(
    audio: object, pace: float | None, linger: float | None, *, allow_async: bool = True
) -> float:
    """The pacing speed (0.0: as given) once ``audio``, ``pace`` and ``linger`` check out.

    Raises before anything is sent, so a mistake costs the session nothing.
    """
    if isinstance(audio, str):
        raise AudioFormatError(
            "audio must be PCM16 bytes, a buffer of samples or an iterable of chunks, not str."
        )
    if not (_is_buffer(audio) or isinstance(audio, (Iterable, AsyncIterable))):
        raise TypeError(
            "audio must be PCM16 bytes, a buffer of samples, or an iterable or async "
            f"iterable of chunks, not {type(audio).__name__}."
        )
    if pace is None:
        speed = 0.0
    elif isinstance(pace, bool) or not isinstance(pace, (int, float)):
        raise TypeError(f"pace must be a number or None, not {type(pace).__name__}.")
    elif math.isnan(pace) or pace < 0:
        raise ValueError(f"pace must be >= 0 (0 or None: as given), not {pace!r}.")
    else:
        speed = 0.0 if math.isinf(pace) else float(pace)
    if linger is not None:
        if isinstance(linger, bool) or not isinstance(linger, (int, float)):
            raise TypeError(f"linger must be a number of seconds or None, not {linger!r}.")
        if not (math.isfinite(linger) and linger >= 0):
            raise ValueError(f"linger must be a finite number of seconds >= 0, not {linger!r}.")
    if _is_live(audio):
        return 0.0  # A live source delivers at its own rate; holding it back only adds lag.
    return speed


def _is_live(audio: object) -> bool:
    from .audio._devices import Microphone

    return isinstance(audio, Microphone)


def _as_pcm(chunks: Iterable[Buffer]) -> Iterator[bytes]:
    for chunk in chunks:
        pcm = pcm16_bytes(chunk)
        if pcm:  # an empty chunk would be an input_audio frame with nothing in it
            yield pcm


async def _as_pcm_async(chunks: AsyncIterator[Buffer]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        pcm = pcm16_bytes(chunk)
        if pcm:
            yield pcm


def _whole(audio: Buffer) -> Iterator[bytes]:
    from .audio import chunks

    return chunks(audio)


def _bridged(source: AsyncIterable[Buffer]) -> Iterator[Buffer]:
    """An async iterable, pulled one item at a time on a private event loop
    (the blocking sender's thread has none)."""
    import asyncio

    loop = asyncio.new_event_loop()
    items = source.__aiter__()
    try:
        while True:
            try:
                yield loop.run_until_complete(items.__anext__())
            except StopAsyncIteration:
                return
    finally:
        try:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                loop.run_until_complete(aclose())
        finally:
            loop.close()


class Activity:
    """When the session last heard from the server, and whether tools are busy:
    what ``linger`` waits on."""

    def __init__(self, busy: Callable[[], bool]) -> None:
        self.last_event = time.monotonic()
        self.busy = busy

    def heard(self) -> None:
        self.last_event = time.monotonic()

    def quiet_for(self, since: float) -> float:
        """Seconds without an event (or a tool in flight), counted from ``since`` at the latest."""
        if self.busy():
            self.last_event = time.monotonic()
        return time.monotonic() - max(self.last_event, since)


# -- the blocking sender ------------------------------------------------------------------


class SyncSender:
    """Sends ``audio`` over ``conn`` from a daemon thread of its own."""

    def __init__(
        self,
        conn: Connection,
        audio: Any,
        *,
        speed: float,
        linger: float | None,
        activity: Activity | None,
    ) -> None:
        self._conn = conn
        self._speed = speed
        self._linger = linger
        self._activity = activity
        self._stopped = threading.Event()
        self.error: BaseException | None = None
        self.bytes_sent = 0
        # Taken here, in the caller's thread: a whole buffer that is not PCM16
        # fails before the session has sent anything.
        if _is_buffer(audio):
            self._source: Iterator[Any] = _whole(audio)
        elif isinstance(audio, Iterable):
            self._source = iter(audio)
        else:
            self._source = _bridged(audio)
        self._thread = threading.Thread(target=self._run, name="vatel-audio-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> BaseException | None:
        """The session is over: stop sending; the failure to raise, if any."""
        self._stopped.set()
        self._thread.join(STOP_GRACE)
        return self.error

    def _run(self) -> None:
        from .audio import paced

        source = self._source
        chunks = paced(
            _as_pcm(source),
            speed=self._speed,
            clock=_clock,
            sleep=lambda seconds: _wait(self._stopped, seconds),
        )
        try:
            for pcm in chunks:
                if self._stopped.is_set():
                    return
                self._conn.send_input_audio_bytes(pcm)
                self.bytes_sent += len(pcm)
                if self._stopped.is_set():
                    return
            if self._linger is not None and self._activity is not None:
                self._hang_up_when_quiet(self._linger, self._activity)
        except (ConnectionClosedError, SessionEndedError):
            pass  # The session closed under us; the receiving side says why.
        except Exception as exc:
            # Kept even when the session ended meanwhile: a failure of the
            # caller's source, or the send time-out that ended the session, is
            # what run() should raise.
            self.error = exc
            log.debug("Input audio failed; closing the session with %d.", FAILURE_CLOSE_CODE)
            with contextlib.suppress(Exception):
                self._conn.close(FAILURE_CLOSE_CODE, FAILURE_CLOSE_REASON)
        finally:
            _close(chunks)
            _close(source)

    def _hang_up_when_quiet(self, linger: float, activity: Activity) -> None:
        done = time.monotonic()
        while not self._stopped.is_set():
            quiet = activity.quiet_for(done)
            if quiet >= linger:
                log.debug("Input audio done and %g s quiet: closing the session.", linger)
                self._conn.close()
                return
            self._stopped.wait(max(linger - quiet, 0.005))


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            log.exception("Closing the input audio iterator failed.")


# -- the asyncio sender --------------------------------------------------------------------


class AsyncSender:
    """Sends ``audio`` over ``conn`` from a task of its own."""

    def __init__(
        self,
        conn: AsyncConnection,
        audio: Any,
        *,
        speed: float,
        linger: float | None,
        activity: Activity | None,
    ) -> None:
        self._conn = conn
        self._speed = speed
        self._linger = linger
        self._activity = activity
        self.error: BaseException | None = None
        self.bytes_sent = 0
        self._source: Any
        if _is_buffer(audio):
            self._source = _whole(audio)
        elif isinstance(audio, AsyncIterable):
            self._source = audio.__aiter__()
        else:
            self._source = iter(audio)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> BaseException | None:
        """The session is over: stop sending; the failure to raise, if any."""
        import asyncio

        task = self._task
        if task is None:
            return self.error
        # A failure already on its way (the send time-out that closed the
        # connection wakes both sides at once) gets to land before the cancel.
        for _ in range(_SETTLE_STEPS):
            if task.done():
                break
            await asyncio.sleep(0)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return self.error

    async def _run(self) -> None:
        from .audio import apaced

        source = self._source
        pcm_chunks: Any = (
            _as_pcm_async(source) if isinstance(source, AsyncIterator) else _as_pcm(source)
        )
        chunks = apaced(pcm_chunks, speed=self._speed, clock=_clock, sleep=_asleep)
        try:
            async for pcm in chunks:
                await self._conn.send_input_audio_bytes(pcm)
                self.bytes_sent += len(pcm)
            if self._linger is not None and self._activity is not None:
                await self._hang_up_when_quiet(self._linger, self._activity)
        except (ConnectionClosedError, SessionEndedError):
            pass  # The session closed under us; the receiving side says why.
        except Exception as exc:
            self.error = exc  # kept even if the session ended meanwhile (see SyncSender)
            log.debug("Input audio failed; closing the session with %d.", FAILURE_CLOSE_CODE)
            with contextlib.suppress(Exception):
                await self._conn.close(FAILURE_CLOSE_CODE, FAILURE_CLOSE_REASON)
        finally:
            await _aclose(chunks)
            if isinstance(pcm_chunks, AsyncIterator):
                await _aclose(pcm_chunks)
            else:
                _close(pcm_chunks)
            await _aclose(source)

    async def _hang_up_when_quiet(self, linger: float, activity: Activity) -> None:
        import asyncio

        done = time.monotonic()
        while True:
            quiet = activity.quiet_for(done)
            if quiet >= linger:
                log.debug("Input audio done and %g s quiet: closing the session.", linger)
                await self._conn.close()
                return
            await asyncio.sleep(max(linger - quiet, 0.005))


async def _aclose(source: object) -> None:
    aclose = getattr(source, "aclose", None)
    try:
        if callable(aclose):
            await aclose()
        else:
            _close(source)
    except Exception:
        log.exception("Closing the input audio iterator failed.")
