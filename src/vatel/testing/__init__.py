"""Test helpers: the embedded mock Vatel server.

:class:`MockServer` is a real HTTP and WebSocket server on loopback that
follows the Vatel API contract: every REST operation on in-memory, seeded data,
and a deterministic voice agent on ``GET /v1/connection``. It needs the
``mock`` extra (``pip install 'vatel[mock]'``).

Voice agent behaviour: it greets with the agent's ``first_message`` when there
is one; detects the caller's speech by energy on 20 ms frames; answers every
turn with ``speech_stopped``, an interim and a final ``input_audio_transcript``
(``"I said something for 1.2 seconds."``), ``response_text`` partials then the
final text, and ``response_audio`` chunks of 20 ms ending with ``is_final``.
Speech during the agent's audio stops it with ``interruption``. Client frames
that are not valid client messages are recorded in ``MockSession.received``
with ``error`` set and are otherwise ignored; the server never closes a session
because of them.
"""

from __future__ import annotations

from . import _deps  # noqa: F401  (must come first: explains a missing extra)
from ._faults import Faults, MalformedKind
from ._records import Message, MockSession, RecordedRequest, ToolOutput
from ._server import MockServer, serve

__all__ = [
    "Faults",
    "MalformedKind",
    "Message",
    "MockServer",
    "MockSession",
    "RecordedRequest",
    "ToolOutput",
    "serve",
]
