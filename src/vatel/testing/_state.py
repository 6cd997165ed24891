"""The mock's in-memory data: one organization's agents, calls and telephony.

Records keep their wire form (``data``, exactly what the API returns) next to
the few private facts the API never shows (owning organization, secrets, the
active version). Handlers on the server thread and control methods on the test
thread share one :class:`State`; hold ``state.lock`` around every read-modify-write.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._errors import ApiError
from ._util import new_id, rfc3339, utcnow

JSON = dict[str, Any]

CLIENT_TOOL_NODE = "client_tool"
"""``type`` of a graph node the voice agent turns into a ``tool_call``."""


@dataclass
class Version:
    """An agent version: ``data`` is its ``GraphVersion``, ``nodes`` its ``GraphNode`` list."""

    data: JSON
    nodes: list[JSON] = field(default_factory=list)


@dataclass
class AgentRecord:
    org_id: str
    data: JSON
    versions: dict[str, Version]
    active_version_id: str


@dataclass
class CallRecord:
    org_id: str
    data: JSON
    created: datetime
    recording_variant: int | None = None
    """Which synthesized recording the call has; ``None`` means no recording."""
    recording: bytes | None = None
    """The WAV bytes, built on first download."""


@dataclass
class PhoneNumberRecord:
    org_id: str
    data: JSON


@dataclass
class TrunkRecord:
    org_id: str
    data: JSON
    passwords: dict[str, str] = field(default_factory=dict)


@dataclass
class AssignmentRecord:
    org_id: str
    data: JSON


class State:
    """Everything one mock server knows, for one organization plus a foreign one."""

    def __init__(self, *, org: JSON, foreign_org_id: str, llms: list[str], voices: list[JSON]):
        self.lock = threading.RLock()
        self.org = org
        self.org_id: str = org["id"]
        self.foreign_org_id = foreign_org_id
        self.llms = sorted(llms)
        self.voices = voices
        self.agents: dict[str, AgentRecord] = {}
        self.calls: dict[str, CallRecord] = {}
        self.numbers: dict[str, PhoneNumberRecord] = {}
        self.trunks: dict[str, TrunkRecord] = {}
        self.assignments: dict[str, AssignmentRecord] = {}

    # Lookups scoped to the organization: another organization's records are
    # reported exactly like missing ones.

    def agent(self, agent_id: str) -> AgentRecord:
        record = self.agents.get(agent_id)
        if record is None or record.org_id != self.org_id:
            raise ApiError(404, "agent not found")
        return record

    def version(self, agent: AgentRecord, version_id: str) -> Version:
        version = agent.versions.get(version_id)
        if version is None:
            raise ApiError(404, "agent version not found")
        return version

    def call(self, call_id: str) -> CallRecord:
        record = self.calls.get(call_id)
        if record is None or record.org_id != self.org_id:
            raise ApiError(404, "call not found")
        return record

    def number(self, number_id: str) -> PhoneNumberRecord:
        record = self.numbers.get(number_id)
        if record is None or record.org_id != self.org_id:
            raise ApiError(404, "phone number not found")
        return record

    def trunk(self, trunk_id: str) -> TrunkRecord:
        record = self.trunks.get(trunk_id)
        if record is None or record.org_id != self.org_id:
            raise ApiError(404, "SIP trunk not found")
        return record

    def assignment(self, assignment_id: str) -> AssignmentRecord:
        record = self.assignments.get(assignment_id)
        if record is None or record.org_id != self.org_id:
            raise ApiError(404, "assignment not found")
        return record

    def own(self, records: dict[str, Any]) -> list[Any]:
        """The records of ``records`` that belong to this organization, in insertion order."""
        return [r for r in records.values() if r.org_id == self.org_id]

    # Writes shared by the REST handlers, the seed and the voice sessions.

    def add_agent(
        self, org_id: str, data: JSON, nodes: list[JSON], *, version_id: str | None = None
    ) -> JSON:
        """Store an agent with one published version, ``v1``, holding ``nodes``."""
        version = self.new_version(
            data["id"],
            tag="v1",
            published=True,
            created_at=data["created_at"],
            version_id=version_id,
        )
        version.nodes = nodes
        vid = version.data["id"]
        self.agents[data["id"]] = AgentRecord(org_id, data, {vid: version}, vid)
        return data

    @staticmethod
    def new_version(
        agent_id: str,
        *,
        tag: str,
        published: bool,
        created_at: str | None = None,
        version_id: str | None = None,
    ) -> Version:
        created = created_at or rfc3339(utcnow())
        return Version(
            {
                "id": version_id or new_id(),
                "agent_id": agent_id,
                "created_at": created,
                "published_at": created if published else None,
                "tag": tag,
            }
        )

    def add_call(self, org_id: str, data: JSON, created: datetime, variant: int | None) -> None:
        self.calls[data["id"]] = CallRecord(org_id, data, created, variant)

    def client_tools(self, agent_id: str, version_id: str) -> list[JSON]:
        """The client-tool nodes of one agent version (empty when either is gone)."""
        with self.lock:
            agent = self.agents.get(agent_id)
            version = agent.versions.get(version_id) if agent else None
            if version is None:
                return []
            return [dict(n) for n in version.nodes if n.get("type") == CLIENT_TOOL_NODE]

    def open_call(
        self,
        agent: AgentRecord,
        version_id: str,
        *,
        source: str,
        status: str,
        outbound: bool,
        party_number: str = "",
        call_id: str | None = None,
    ) -> str:
        """Record a call that starts now; returns its id."""
        now = utcnow()
        stamp = rfc3339(now)
        data: JSON = {
            "id": call_id or new_id(),
            "agent_id": agent.data["id"],
            "graph_version_id": version_id,
            "organization_id": agent.org_id,
            "party_number": party_number,
            "status": status,
            "source": source,
            "outbound": outbound,
            "created_at": stamp,
            "tags": [],
            "extracted_variables": [],
        }
        if status in ("connected", "in_progress"):
            data["connected_at"] = stamp
        if status == "in_progress":
            data["started_at"] = stamp
        with self.lock:
            self.add_call(agent.org_id, data, now, None)
        return str(data["id"])

    def finish_call(self, call_id: str, *, reason: str, entries: list[JSON]) -> None:
        """Mark a call ended now, with its termination reason and transcript."""
        now = utcnow()
        with self.lock:
            record = self.calls.get(call_id)
            if record is None:
                return
            data = record.data
            seconds = max(0, round((now - record.created).total_seconds()))
            data.update(
                status="ended",
                ended_at=rfc3339(now),
                termination_reason=reason,
                duration_seconds=seconds,
                cost=round(seconds * 0.0015, 4),
                transcript={"entries": entries},
            )
