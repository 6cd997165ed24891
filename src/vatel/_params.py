"""Keyword arguments accepted by the REST methods, as TypedDicts.

A key left out is not sent; a key set to ``None`` is sent as JSON ``null``
(which, on the update methods, clears the field where the contract says so).
Nested settings accept a plain dict or the matching model.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypedDict

from typing_extensions import Required

from ._models import (
    AgentStatus,
    CallerTransformType,
    CallOutcome,
    CallSource,
    CallStatus,
    NoiseCancelSettings,
    Pbx,
    SIPTrunkAuthType,
    SipTrunkCallerIDTransform,
    TimeoutAction,
    TimeoutSettings,
    TTSStrategy,
    VadSettings,
    VoiceSettings,
)

__all__ = [
    "AgentCreateParams",
    "AgentUpdateParams",
    "AssignmentCreateParams",
    "AssignmentUpdateParams",
    "CallListParams",
    "CallerIDTransformParam",
    "DialParams",
    "NoiseCancelSettingsParam",
    "SipTrunkCreateParams",
    "SipTrunkUpdateParams",
    "TimeoutSettingsParam",
    "TwilioNumberImportParams",
    "VadSettingsParam",
    "VoiceSettingsParam",
]


class VoiceSettingsParam(TypedDict, total=False):
    """Agent voice: ``id`` and ``provider`` are needed on create and update."""

    id: str
    provider: TTSStrategy
    speed: float
    stability: float
    similarity_boost: float
    volume: float


class VadSettingsParam(TypedDict, total=False):
    """Voice-activity detection timing, in seconds; omitted keys keep their values."""

    start_secs: float
    stop_secs: float
    silence_timeout_secs: float


class NoiseCancelSettingsParam(TypedDict, total=False):
    """Inbound noise suppression; ``level`` is 0 to 100."""

    enabled: bool
    level: float


class TimeoutSettingsParam(TypedDict, total=False):
    """Silence and call-duration limits."""

    default_timeout: float
    timeout_action: TimeoutAction
    transfer_number: str
    transfer_message: str
    silence_counter: int
    silence_timeout_action: TimeoutAction
    silence_transfer_number: str


class _AgentFields(TypedDict, total=False):
    phone_number_id: str | None
    llm: str
    fallback_llm: str
    status: AgentStatus
    prompt: str
    first_message: str
    first_message_interruption_time: float
    default_language: str
    summarize_calls: bool
    noise_cancel_settings: NoiseCancelSettingsParam | NoiseCancelSettings
    vad_settings: VadSettingsParam | VadSettings
    enable_first_message_outbound: bool
    timeout_settings: TimeoutSettingsParam | TimeoutSettings
    keyterms: Sequence[str]
    voice_settings: VoiceSettingsParam | VoiceSettings


class AgentCreateParams(_AgentFields, total=False):
    """Fields of ``client.agents.create()``; ``name`` is required."""

    name: Required[str]


class AgentUpdateParams(_AgentFields, total=False):
    """Fields of ``client.agents.update()``; send only what changes."""

    name: str


class DialParams(TypedDict, total=False):
    """Options of ``client.agents.dial()``. ``number`` and ``destination`` are
    aliases for the callee; with ``sip_trunk_id`` the call goes out over that trunk."""

    number: str
    destination: str
    sip_trunk_id: str
    caller_id: str
    first_message: str
    prompt: str


class CallListParams(TypedDict, total=False):
    """Filters of ``client.calls.list()``."""

    agent_ids: str | Sequence[str]
    status: CallStatus
    source: CallSource
    date_from: str | datetime
    date_to: str | datetime
    outbound: bool
    search: str
    tag: str
    outcome: CallOutcome
    organization_id: str


class TwilioNumberImportParams(TypedDict, total=False):
    """Fields of ``client.twilio_numbers.import_number()``."""

    phone_number: Required[str]
    account_sid: Required[str]
    auth_token: Required[str]
    label: str


class CallerIDTransformParam(TypedDict, total=False):
    """A caller-id rule of a SIP trunk."""

    type: Required[CallerTransformType]
    value: str
    value2: str
    number: int


class _SipTrunkFields(TypedDict, total=False):
    caller_id_transforms: Sequence[CallerIDTransformParam | SipTrunkCallerIDTransform] | None
    inbound_host: str | None
    inbound_auth_type: SIPTrunkAuthType | None
    inbound_sip_username: str | None
    inbound_sip_password: str | None
    outbound_host: str | None
    outbound_sip_username: str | None
    outbound_sip_password: str | None
    register: bool | None
    remain_in_dialog: bool | None


class SipTrunkCreateParams(_SipTrunkFields, total=False):
    """Fields of ``client.sip_trunks.create()``; ``pbx`` is required."""

    pbx: Required[Pbx]


class SipTrunkUpdateParams(_SipTrunkFields, total=False):
    """Fields of ``client.sip_trunks.update()``; ``None`` clears a nullable field."""

    pbx: Pbx


class AssignmentCreateParams(TypedDict, total=False):
    """Fields of ``client.sip_trunks.assignments.create()``."""

    agent_id: Required[str]
    number: str
    alternate_number: str


class AssignmentUpdateParams(TypedDict, total=False):
    """Fields of ``client.sip_trunks.assignments.update()``; ``None`` clears a number."""

    number: str | None
    alternate_number: str | None


def check_keywords(
    method: str,
    given: Mapping[str, object],
    accepted: type,
    *,
    also: Iterable[str] = (),
) -> None:
    """Refuse keyword arguments that are not keys of the TypedDict ``accepted``.

    Type checkers catch a misspelt keyword; a script or a notebook would send it,
    and the server would ignore it (``update(promt=...)`` would change nothing).
    ``also`` names the method's own keyword parameters, so that the message lists
    every keyword the method takes. Only names are quoted, never values.
    """
    keys: frozenset[str] = accepted.__required_keys__ | accepted.__optional_keys__  # type: ignore[attr-defined]
    unknown = [name for name in given if name not in keys]
    if not unknown:
        return
    names = sorted(keys | set(also))
    quoted = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=1)
        quoted.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    what = "an unexpected keyword argument" if len(unknown) == 1 else "unexpected keyword arguments"
    raise TypeError(f"{method}() got {what} {', '.join(quoted)}; it accepts: {', '.join(names)}")
