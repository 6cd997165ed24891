"""Python SDK for the Vatel voice-agent platform.

``Client`` / ``AsyncClient`` call the REST API and open voice sessions
(``Connection`` / ``AsyncConnection``) that deliver typed events. Models of the
REST API live in :mod:`vatel.types`, audio helpers in :mod:`vatel.audio`, and
the embedded mock server in :mod:`vatel.testing`.

Names are loaded on first use, so ``import vatel`` stays cheap.
"""

from __future__ import annotations

import importlib

from ._version import __version__

# Not ``typing.TYPE_CHECKING``: importing ``typing`` alone is most of what a bare
# ``import vatel`` would cost. Type checkers treat this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._async_connection import AsyncConnect, AsyncConnection, connect_async
    from ._client import AsyncClient, Client
    from ._connection import Connection, connect
    from ._dial import ConnectOptions
    from ._events import (
        Event,
        InputAudioTranscript,
        Interruption,
        Reconnected,
        Reconnecting,
        ResponseAudio,
        ResponseText,
        SessionEnded,
        SessionStarted,
        SpeechStarted,
        SpeechStopped,
        ToolCall,
        ToolCallArgument,
        UnknownEvent,
    )
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AudioFormatError,
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        ConfigurationError,
        ConflictError,
        ConnectionClosedError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        ProtocolError,
        RateLimitError,
        ResponseTooLargeError,
        SessionEndedError,
        ValidationError,
        VatelError,
    )
    from ._protocol import SessionState
    from ._reconnect import Reconnect
    from ._report import SessionReport
    from ._serialize import ToolOutputError
    from ._session_token import SessionToken
    from ._stats import SessionStats
    from ._tools import ToolContext, ToolError, ToolRouter, ToolStats, current_tool_call
    from ._transcript import (
        AgentTurn,
        InterruptionTurn,
        LatencySummary,
        ToolCallTurn,
        Transcript,
        Turn,
        TurnLatency,
        UserTurn,
    )

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AgentTurn",
    "AsyncClient",
    "AsyncConnect",
    "AsyncConnection",
    "AudioFormatError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectOptions",
    "Connection",
    "ConnectionClosedError",
    "Event",
    "InputAudioTranscript",
    "InternalServerError",
    "Interruption",
    "InterruptionTurn",
    "LatencySummary",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "Reconnect",
    "Reconnected",
    "Reconnecting",
    "ResponseAudio",
    "ResponseText",
    "ResponseTooLargeError",
    "SessionEnded",
    "SessionEndedError",
    "SessionReport",
    "SessionStarted",
    "SessionState",
    "SessionStats",
    "SessionToken",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallArgument",
    "ToolCallTurn",
    "ToolContext",
    "ToolError",
    "ToolOutputError",
    "ToolRouter",
    "ToolStats",
    "Transcript",
    "Turn",
    "TurnLatency",
    "UnknownEvent",
    "UserTurn",
    "ValidationError",
    "VatelError",
    "connect",
    "connect_async",
    "current_tool_call",
    "__version__",
]

_EXCEPTIONS = (
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AudioFormatError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionClosedError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ResponseTooLargeError",
    "SessionEndedError",
    "ValidationError",
    "VatelError",
)
_EVENTS = (
    "Event",
    "InputAudioTranscript",
    "Interruption",
    "Reconnected",
    "Reconnecting",
    "ResponseAudio",
    "ResponseText",
    "SessionEnded",
    "SessionStarted",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallArgument",
    "UnknownEvent",
)

# Where each public name lives; modules are imported when a name is first used.
_LOCATIONS: dict[str, str] = {
    **dict.fromkeys(_EXCEPTIONS, "._exceptions"),
    **dict.fromkeys(_EVENTS, "._events"),
    "AsyncClient": "._client",
    "Client": "._client",
    "AsyncConnect": "._async_connection",
    "AsyncConnection": "._async_connection",
    "connect_async": "._async_connection",
    "Connection": "._connection",
    "connect": "._connection",
    "ConnectOptions": "._dial",
    "Reconnect": "._reconnect",
    "SessionReport": "._report",
    "SessionState": "._protocol",
    "SessionStats": "._stats",
    "SessionToken": "._session_token",
    "ToolContext": "._tools",
    "ToolError": "._tools",
    "ToolOutputError": "._serialize",
    "ToolRouter": "._tools",
    "ToolStats": "._tools",
    "current_tool_call": "._tools",
    "AgentTurn": "._transcript",
    "InterruptionTurn": "._transcript",
    "LatencySummary": "._transcript",
    "ToolCallTurn": "._transcript",
    "Transcript": "._transcript",
    "Turn": "._transcript",
    "TurnLatency": "._transcript",
    "UserTurn": "._transcript",
}
_SUBMODULES = frozenset({"audio", "testing", "types"})


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'vatel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES)
