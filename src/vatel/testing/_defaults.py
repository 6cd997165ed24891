"""Server defaults for new agents and the shape of their first version's graph."""

from __future__ import annotations

import copy
import random
from typing import Any

from ._state import CLIENT_TOOL_NODE
from ._util import new_id
from ._vad import DEFAULT_START_SECS, DEFAULT_STOP_SECS

DEFAULT_PROMPT = "You are a friendly, concise voice assistant."

_AGENT_DEFAULTS: dict[str, Any] = {
    "phone_number_id": "",
    "llm": "openai/gpt-4o-mini",
    "fallback_llm": "anthropic/claude-3-5-haiku",
    "status": "active",
    "prompt": DEFAULT_PROMPT,
    "first_message": "",
    "first_message_interruption_time": 0,
    "default_language": "en",
    "summarize_calls": True,
    "noise_cancel_settings": {"enabled": False, "level": 50},
    "vad_settings": {
        "start_secs": DEFAULT_START_SECS,
        "stop_secs": DEFAULT_STOP_SECS,
        "silence_timeout_secs": 30,
    },
    "enable_first_message_outbound": True,
    "voice_settings": {"id": "alloy", "provider": "openai", "speed": 1.0},
    "timeout_settings": {
        "default_timeout": 600,
        "timeout_action": "end_call",
        "silence_counter": 3,
        "silence_timeout_action": "end_call",
    },
    "keyterms": [],
}


def agent_defaults() -> dict[str, Any]:
    """A fresh copy of the fields a new agent gets when the request omits them."""
    return copy.deepcopy(_AGENT_DEFAULTS)


def default_nodes(prompt: str, rng: random.Random | None = None) -> list[dict[str, Any]]:
    """The graph of a new agent: start, one conversation node, end call."""
    start, talk, end = new_id(rng), new_id(rng), new_id(rng)
    return [
        {"id": start, "type": "start", "name": "Start", "data": {}, "edges": [{"target": talk}]},
        {
            "id": talk,
            "type": "conversation",
            "name": "Conversation",
            "data": {"prompt": prompt},
            "edges": [{"target": end, "condition": "the caller has nothing more to ask"}],
        },
        {
            "id": end,
            "type": "end_call",
            "name": "End call",
            "data": {"message": "Thanks for calling. Goodbye!"},
            "edges": [],
        },
    ]


_EXAMPLE_VALUES: dict[str, Any] = {
    "string": "example",
    "number": 1,
    "integer": 1,
    "boolean": True,
    "object": {},
    "array": [],
}


def client_tool_node(
    name: str, arguments: list[dict[str, Any]], description: str
) -> dict[str, Any]:
    """A graph node for a tool the client runs; each argument gets every
    ``VoiceSessionInputVariable`` field, and a value of its ``dataType`` when it had none."""
    bound = []
    for argument in arguments:
        if not isinstance(argument.get("name"), str):
            raise ValueError("every argument needs a string 'name'")
        data_type = argument.get("dataType", "string")
        bound.append(
            {
                "name": argument["name"],
                "type": argument.get("type", "static"),
                "dataType": data_type,
                "description": argument.get("description", ""),
                "required": argument.get("required", True),
                "value": copy.deepcopy(argument.get("value", _EXAMPLE_VALUES.get(data_type, ""))),
            }
        )
    return {
        "id": new_id(),
        "type": CLIENT_TOOL_NODE,
        "name": name,
        "data": {"tool_name": name, "description": description, "arguments": bound},
        "edges": [],
    }
