"""What the sync and async connections share and that does no I/O."""

from __future__ import annotations

import contextlib
from typing import Any

from ._protocol import SessionProtocol, SessionState
from ._redact import redact_url


class SessionBase:
    """A voice session's identity and state, read without touching the socket."""

    def __init__(self, websocket: Any, url: str) -> None:
        self._ws = websocket
        self._protocol = SessionProtocol()
        self.url = redact_url(url)
        """The session URL with the token replaced by ``***``."""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.url} session_id={self.session_id!r} "
            f"state={self.state.value}>"
        )

    @property
    def session_id(self) -> str | None:
        """The id from ``session_started``, once received."""
        return self._protocol.session_id

    @property
    def state(self) -> SessionState:
        """Where the session is: open, started or ended."""
        return self._protocol.state

    @property
    def closed(self) -> bool:
        """True once the WebSocket is closed."""
        from websockets.protocol import State

        return bool(self._ws.protocol.state is State.CLOSED)

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006 if the connection dropped)."""
        code: int | None = self._ws.close_code
        return code

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed."""
        reason: str | None = self._ws.close_reason
        return reason

    def _lift_read_limit(self) -> None:
        """Let the server's close frame through when nobody reads any more.

        Reading stops while ``max_queue`` frames wait unread; the close frame
        then sits behind them and closing would stall for ``close_timeout``.
        The server sends no new data once it has our close frame, so dropping
        the limit for the last moments of the connection is bounded.
        """
        assembler = getattr(self._ws, "recv_messages", None)
        if assembler is None or not hasattr(assembler, "paused"):
            return
        with getattr(assembler, "mutex", None) or contextlib.nullcontext():
            assembler.high = assembler.low = None
            if assembler.paused:
                assembler.paused = False
                assembler.resume()
