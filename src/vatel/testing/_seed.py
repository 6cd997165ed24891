"""The mock's starting data: the same organization, agents, calls and telephony
on every run, drawn from a fixed random seed."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ._defaults import agent_defaults, default_nodes
from ._routes_telephony import new_trunk
from ._state import AssignmentRecord, PhoneNumberRecord, State
from ._util import new_id, rfc3339

SEED = 20250601
ANCHOR = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
"""Seeded calls happened during the 60 days before this moment."""

CALL_COUNT = 45

LLMS = [
    "anthropic/claude-3-5-haiku",
    "anthropic/claude-sonnet-4",
    "google/gemini-2.0-flash",
    "groq/llama-3.3-70b-versatile",
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
]

_VOICES: dict[str, list[tuple[str, str, str | None]]] = {
    "elevenlabs": [
        ("aria-v2", "Aria", "Warm, conversational American English."),
        ("callum", "Callum", "Calm British narrator."),
        ("lucia", "Lucia", "Bright Spanish and English voice."),
    ],
    "openai": [
        ("alloy", "Alloy", "Neutral and balanced."),
        ("verse", "Verse", "Expressive and lively."),
        ("sage", "Sage", "Gentle and measured."),
    ],
    "cartesia": [
        ("cartesia-sonic-helpdesk", "Helpdesk Woman", "Clear support-line voice."),
        ("cartesia-sonic-barista", "Barista Man", "Friendly and upbeat."),
    ],
    "hume": [("hume-ito", "Ito", None), ("hume-kora", "Kora", "Soft and empathic.")],
    "minimax": [("minimax-wise-woman", "Wise Woman", "Mature and reassuring.")],
    "fish": [("fish-e-girl", "Evelyn", None), ("fish-narrator", "Narrator", "Deep storyteller.")],
}
_LANGUAGES = {
    "elevenlabs": ["en", "es", "fr", "de", "it", "pt"],
    "openai": ["en", "es", "fr", "de", "ja", "zh"],
    "cartesia": ["en", "es"],
    "hume": ["en"],
    "minimax": ["en", "zh"],
    "fish": ["en", "ja"],
}

_TAGS = ["billing", "follow-up", "sales", "support", "vip"]
_SUMMARIES = [
    "Caller asked about an order's delivery date; the agent gave the tracking status.",
    "Caller wanted to move an appointment to next week; the agent rescheduled it.",
    "Caller asked for opening hours and the nearest location.",
    "Caller reported a billing error; the agent opened a ticket.",
    "Caller asked to speak with a person; the agent transferred the call.",
]


@dataclass(frozen=True)
class _Exchange:
    """The caller says ``said``; the agent runs ``tool`` (if any), then ``answer``."""

    said: str
    answer: str
    tool: tuple[str, dict[str, str], str] | None = None
    """``(name, arguments, output)`` of a tool the agent runs before answering."""


_EXCHANGES = (
    _Exchange(
        "Hi, I'd like to check on my order.",
        "Sure, I can help with that. What's the order number?",
    ),
    _Exchange(
        "It's order number 4 4 1 9.",
        "Thanks. Your order shipped yesterday and should arrive on Thursday.",
        ("lookup_order", {"order_number": "4419"}, '{"status": "shipped", "eta": "Thursday"}'),
    ),
    _Exchange("Great, thanks. That's all I needed.", "You're welcome. Have a great day!"),
)
_REPLY_GAP = timedelta(milliseconds=700)
"""From the end of one speaker's line to the start of the next row."""
_TOOL_TIME = timedelta(milliseconds=450)


@dataclass
class Seeded:
    """Ids of the seeded records that tests and the demo need to find."""

    agent_ids: list[str] = field(default_factory=list)
    foreign_agent_id: str = ""
    phone_number_id: str = ""
    sip_trunk_id: str = ""
    assignment_id: str = ""


def _voices() -> list[dict[str, Any]]:
    voices = []
    for provider, entries in _VOICES.items():
        for index, (voice_id, name, description) in enumerate(entries):
            voices.append(
                {
                    "id": voice_id,
                    "name": name,
                    "description": description,
                    "provider": provider,
                    "languages": _LANGUAGES[provider],
                    "preview_url": None,
                    "featured": index == 0,
                }
            )
    return voices


def build_state(seed: bool) -> tuple[State, Seeded]:
    """A fresh :class:`State`; with ``seed``, filled with the sample data."""
    rng = random.Random(SEED)
    org = {"id": new_id(rng), "name": "Acme Support", "created_at": "2024-11-04T09:30:00.000Z"}
    state = State(org=org, foreign_org_id=new_id(rng), llms=LLMS, voices=_voices())
    seeded = Seeded()
    seeded.foreign_agent_id = _agent(
        state, rng, state.foreign_org_id, "Other Org Receptionist", {}, "2024-12-01T08:00:00.000Z"
    )
    _calls(state, rng, [seeded.foreign_agent_id], state.foreign_org_id, 3)
    if not seed:
        return state, seeded
    number_id = new_id(rng)
    state.numbers[number_id] = _phone_number(state.org_id, number_id, rng)
    front_desk = _agent(
        state,
        rng,
        state.org_id,
        "Front Desk",
        {
            "phone_number_id": number_id,
            "first_message": "Hello! Thanks for calling Acme. How can I help you today?",
            "prompt": "You are the front desk of Acme. Greet callers and answer briefly.",
            "keyterms": ["Acme", "order number"],
            "vad_settings": {"start_secs": 0.06, "stop_secs": 0.4, "silence_timeout_secs": 20},
        },
        "2025-01-10T10:00:00.000Z",
    )
    orders = _agent(
        state,
        rng,
        state.org_id,
        "Order Status",
        {
            "prompt": "You look up order status. Ask for the order number first.",
            "voice_settings": {"id": "aria-v2", "provider": "elevenlabs", "stability": 0.5},
            "llm": "openai/gpt-4.1-mini",
        },
        "2025-02-14T15:30:00.000Z",
    )
    # A second, unpublished version, so publishing has something to do.
    agent = state.agents[front_desk]
    draft = state.new_version(
        front_desk,
        tag="v2-draft",
        published=False,
        created_at="2025-05-20T09:00:00.000Z",
        version_id=new_id(rng),
    )
    draft.nodes = default_nodes(agent.data["prompt"], rng)
    agent.versions[draft.data["id"]] = draft
    trunk_id = new_id(rng)
    state.trunks[trunk_id] = new_trunk(
        state.org_id,
        {
            "pbx": "3cx",
            "caller_id_transforms": [{"type": "add_prefix", "value": "+1"}],
            "inbound_host": "pbx.example.com",
            "inbound_auth_type": "digest",
            "inbound_sip_username": "acme-inbound",
            "inbound_sip_password": "seeded-secret",
            "outbound_host": "sip.example.net",
            "outbound_sip_username": "acme-outbound",
            "register": True,
        },
        trunk_id,
        "2025-03-01T12:00:00.000Z",
    )
    assignment_id = new_id(rng)
    state.assignments[assignment_id] = AssignmentRecord(
        state.org_id,
        {
            "id": assignment_id,
            "agent_id": orders,
            "sip_trunk_id": trunk_id,
            "number": "1001",
            "alternate_number": "",
            "created_at": "2025-03-01T12:05:00.000Z",
        },
    )
    _calls(state, rng, [front_desk, orders], state.org_id, CALL_COUNT)
    seeded.agent_ids = [front_desk, orders]
    seeded.phone_number_id = number_id
    seeded.sip_trunk_id = trunk_id
    seeded.assignment_id = assignment_id
    return state, seeded


def _agent(
    state: State,
    rng: random.Random,
    org_id: str,
    name: str,
    fields: dict[str, Any],
    created_at: str,
) -> str:
    data = {
        "id": new_id(rng),
        **agent_defaults(),
        "name": name,
        "created_at": created_at,
        "updated_at": created_at,
    }
    data.update(fields)
    state.add_agent(org_id, data, default_nodes(data["prompt"], rng), version_id=new_id(rng))
    return str(data["id"])


def _phone_number(org_id: str, number_id: str, rng: random.Random) -> PhoneNumberRecord:
    return PhoneNumberRecord(
        org_id,
        {
            "id": number_id,
            "phone_number": "+15555550100",
            "phone_sid": "PN" + uuid.UUID(int=rng.getrandbits(128)).hex,
            "label": "Main line",
            "account_sid": "AC" + uuid.UUID(int=rng.getrandbits(128)).hex,
            "created_at": "2025-01-05T08:00:00.000Z",
            "updated_at": "2025-01-05T08:00:00.000Z",
        },
    )


def _spread(rng: random.Random, counts: dict[str, int], total: int) -> list[str]:
    """``total`` values with the given proportions, shuffled."""
    values = [value for value, n in counts.items() for _ in range(n)]
    values = (values * (total // len(values) + 1))[:total]
    rng.shuffle(values)
    return values


class _TranscriptWriter:
    """Builds one call's transcript rows in the order they happened."""

    def __init__(self, call_id: str, start: datetime) -> None:
        self.entries: list[dict[str, Any]] = []
        self._call_id = call_id
        self._at = start
        self.last_line_ended = start

    def _row(self, kind: str, role: str, **fields: Any) -> None:
        self.entries.append(
            {
                "index": len(self.entries),
                "role": role,
                "type": kind,
                "createdAt": rfc3339(self._at),
                **fields,
            }
        )

    def say(self, role: str, line: str) -> None:
        duration = timedelta(milliseconds=1500 + 40 * len(line))
        turn = sum(1 for e in self.entries if e["type"] == "message") + 1
        self._row(
            "message",
            role,
            message=line,
            durationMs=duration // timedelta(milliseconds=1),
            turnId=f"turn-{turn}",
        )
        self._at += duration
        self.last_line_ended = self._at
        self._at += _REPLY_GAP

    def run_tool(self, name: str, arguments: dict[str, str], output: str) -> None:
        number = sum(1 for e in self.entries if e["type"] == "tool_call") + 1
        ended = self._at + _TOOL_TIME
        call = {
            # Unique per call and tool, and the same on every run.
            "callId": f"call_{self._call_id.replace('-', '')[:20]}{number:04d}",
            "toolName": name,
            "arguments": json.dumps(arguments),
            "output": output,
            "startedAt": rfc3339(self._at),
            "endedAt": rfc3339(ended),
        }
        self._row("tool_call", "", toolCall=call)
        self._at = ended
        self._row("tool_call_output", "", toolCallOutput=output)
        self._at += _REPLY_GAP


def _transcript(
    call_id: str, start: datetime, end: datetime, exchanges: int, greeting: str
) -> dict[str, Any]:
    """A conversation in the order it happened, between ``start`` and ``end``:
    the agent's opening line (when it has one), then up to ``exchanges`` times
    the caller speaking and the agent answering, with any tool the agent runs
    between the two. Exchanges that would run past ``end`` are left out."""
    writer = _TranscriptWriter(call_id, start)
    if greeting:
        writer.say("assistant", greeting)
    for exchange in _EXCHANGES[:exchanges]:
        kept = len(writer.entries)
        writer.say("user", exchange.said)
        if exchange.tool is not None:
            writer.run_tool(*exchange.tool)
        writer.say("assistant", exchange.answer)
        if writer.last_line_ended > end:
            del writer.entries[kept:]
            break
    return {"entries": writer.entries}


def _calls(state: State, rng: random.Random, agents: list[str], org_id: str, count: int) -> None:
    statuses = _spread(
        rng, {"ended": 35, "in_progress": 3, "started": 2, "connected": 2, "auth_failed": 3}, count
    )
    sources = _spread(rng, {"twilio": 18, "sip": 11, "api": 9, "simulation": 7}, count)
    outcomes = _spread(rng, {"ended_by_user": 17, "ended_by_agent": 12, "transferred": 6}, count)
    for index in range(count):
        created = ANCHOR - timedelta(seconds=rng.randrange(60 * 24 * 3600))
        # Two calls in three go to the first agent.
        agent = state.agents[agents[0] if index % 3 else agents[-1]]
        status, source = statuses[index], sources[index]
        outbound = source in ("twilio", "sip") and rng.random() < 0.4
        telephony = source in ("twilio", "sip")
        data: dict[str, Any] = {
            "id": new_id(rng),
            "agent_id": agent.data["id"],
            "graph_version_id": agent.active_version_id,
            "organization_id": org_id,
            "party_number": f"+1555{rng.randrange(10**7):07d}" if telephony else "",
            "status": status,
            "source": source,
            "outbound": outbound,
            "created_at": rfc3339(created),
            "tags": sorted(rng.sample(_TAGS, rng.randrange(3))),
            "extracted_variables": [],
        }
        if outbound:
            data["outbound_contact_id"] = new_id(rng)
            data["outbound_list_run_id"] = new_id(rng)
        variant = None
        if status != "auth_failed":
            connected = created + timedelta(seconds=rng.randint(1, 3))
            data["connected_at"] = rfc3339(connected)
            if status in ("ended", "in_progress"):
                data["started_at"] = rfc3339(connected)
            if status == "ended":
                seconds = rng.randint(20, 400)
                ended = connected + timedelta(seconds=seconds)
                data.update(
                    ended_at=rfc3339(ended),
                    duration_seconds=seconds,
                    termination_reason=outcomes[index],
                    cost=round(seconds * 0.0015, 4),
                    summary=_SUMMARIES[index % len(_SUMMARIES)],
                )
                if rng.random() < 0.7:
                    data["transcript"] = _transcript(
                        data["id"],
                        connected,
                        ended,
                        1 + rng.randrange(len(_EXCHANGES)),
                        agent.data["first_message"],
                    )
                if rng.random() < 0.85:
                    variant = index
                if rng.random() < 0.3:
                    data["extracted_variables"] = [
                        {
                            "name": "customer_name",
                            "type": "extracted",
                            "description": "Name the caller gave",
                            "value": rng.choice(["Jordan", "Sam", "Alex", "Riley"]),
                            "dataType": "string",
                            "rationale": "The caller introduced themselves.",
                        }
                    ]
                if rng.random() < 0.2:
                    data["feedback"] = {"stars": rng.randint(1, 5), "notes": "Quick and helpful."}
        else:
            data["termination_reason"] = "auth_failed"
        state.add_call(org_id, data, created, variant)
