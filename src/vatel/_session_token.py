"""The credentials of one voice session.

Minting a token is the first thing most programs do, often in a process that
does nothing else (a web handler handing a token to a browser, ``vatel
token``), so this module reads the answer by hand and imports neither pydantic
nor the generated models: the whole request costs what httpx does.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base_client import APIRequest
    from ._models import Transport

# The optional string members of the contract's ``SessionTokenResponse``.
_OPTIONAL_MEMBERS = ("room", "identity", "url", "webrtc_token")
_MEMBERS = frozenset(("token", *_OPTIONAL_MEMBERS))


class SessionToken:
    """A short-lived session JWT, with the agent (and version) it was minted for.

    Pass it to ``client.connect()``; the connection takes ``agent_id`` and
    ``version_id`` from here. ``room``, ``identity``, ``url`` and
    ``webrtc_token`` are set for a ``webrtc`` transport only; members of the
    answer the SDK does not know are kept in ``extra``. Neither token is shown
    by ``repr()``, nor the values of ``extra``.
    """

    __slots__ = (
        "agent_id",
        "extra",
        "identity",
        "room",
        "token",
        "url",
        "version_id",
        "webrtc_token",
    )

    token: str
    """The session JWT."""
    agent_id: str
    """The agent the token was minted for."""
    version_id: str | None
    """The agent version asked for, if one was."""
    room: str | None
    """Media room name (``webrtc`` transport)."""
    identity: str | None
    """Participant identity in the media room (``webrtc`` transport)."""
    url: str | None
    """WebSocket URL of the media server (``webrtc`` transport)."""
    webrtc_token: str | None
    """Media-room access JWT (``webrtc`` transport); a secret too."""
    extra: dict[str, Any]
    """Members of the answer this SDK does not know, as sent."""

    def __init__(
        self,
        token: str,
        agent_id: str,
        version_id: str | None = None,
        *,
        room: str | None = None,
        identity: str | None = None,
        url: str | None = None,
        webrtc_token: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.token = token
        self.agent_id = agent_id
        self.version_id = version_id
        self.room = room
        self.identity = identity
        self.url = url
        self.webrtc_token = webrtc_token
        self.extra = dict(extra or {})

    @property
    def expires_at(self) -> datetime | None:
        """When the token expires, read from its ``exp`` claim (not verified)."""
        exp = _jwt_claims(self.token).get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            try:
                return datetime.fromtimestamp(exp, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
        return None

    @property
    def model_extra(self) -> dict[str, Any]:
        """``extra``, under the name the REST models use for it."""
        return self.extra

    def model_dump(
        self, *, mode: str = "python", by_alias: bool = False, exclude_none: bool = False
    ) -> dict[str, Any]:
        """The members as a dict, as the REST models' ``model_dump`` gives them.

        Wire and Python names are the same here and every member is JSON data, so
        ``mode`` and ``by_alias`` change nothing; they are taken so that code
        written for the models works. This dict holds the token: keep it out of logs.
        """
        del mode, by_alias
        data: dict[str, Any] = {
            "token": self.token,
            **{name: getattr(self, name) for name in _OPTIONAL_MEMBERS},
            "agent_id": self.agent_id,
            "version_id": self.version_id,
            **self.extra,
        }
        if exclude_none:
            return {k: v for k, v in data.items() if v is not None}
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionToken):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the REST models

    def __repr__(self) -> str:
        # Both tokens are credentials; ``extra`` may hold new ones: names only.
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("agent_id", "version_id", "room", "identity", "url")
        )
        if self.extra:
            shown += f", extra=<{', '.join(sorted(map(str, self.extra)))}>"
        return f"SessionToken({shown})"


def parse_session_token(content: bytes, agent_id: str, version_id: str | None) -> SessionToken:
    """The :class:`SessionToken` in a ``POST /v1/session-token`` answer.

    Raises :class:`ResponseRefused` for a body that is not the contract's
    ``SessionTokenResponse``, in the words pydantic would use, never quoting
    the body; the credentials it did find travel on the error to be redacted.
    """
    # The REST plumbing (and httpx) loads with the first request, not with this
    # class: a voice program that only dials with tokens never needs it.
    from ._base_client import ResponseRefused
    from ._json_body import load_json

    data, refused = load_json(content)
    if refused is not None:
        raise ResponseRefused(f"body: Invalid JSON: {refused} (1 error(s))")
    if not isinstance(data, dict):
        raise ResponseRefused("body: Input should be an object (1 error(s))")
    secrets = tuple(
        value for value in (data.get("token"), data.get("webrtc_token")) if isinstance(value, str)
    )
    problems: list[str] = []
    token = data.get("token")
    if "token" not in data:
        problems.append("token: Field required")
    elif not isinstance(token, str):
        problems.append("token: Input should be a valid string")
    for name in _OPTIONAL_MEMBERS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name}: Input should be a valid string")
    if problems:
        raise ResponseRefused(f"{problems[0]} ({len(problems)} error(s))", secrets=secrets)
    return SessionToken(
        data["token"],
        agent_id,
        version_id,
        room=data.get("room"),
        identity=data.get("identity"),
        url=data.get("url"),
        webrtc_token=data.get("webrtc_token"),
        extra={k: v for k, v in data.items() if k not in _MEMBERS},
    )


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def session_token_request(
    agent_id: str,
    *,
    version_id: str | None,
    chat_id: str | None,
    prompt: str | None,
    first_message: str | None,
    chat: bool | None,
    transport: Transport | None,
) -> APIRequest[SessionToken]:
    """The ``POST /v1/session-token`` request; options left at ``None`` are not sent."""
    if not isinstance(agent_id, str) or not agent_id:
        raise ValueError(f"agent_id must be a non-empty string, got {agent_id!r}")
    options = {
        "version_id": version_id,
        "chat_id": chat_id,
        "prompt": prompt,
        "first_message": first_message,
        "chat": chat,
        "transport": transport,
    }
    body = {"agent_id": agent_id, **{k: v for k, v in options.items() if v is not None}}
    parse = functools.partial(parse_session_token, agent_id=agent_id, version_id=version_id)
    from ._base_client import APIRequest

    return APIRequest("POST", "/v1/session-token", parse=parse, body=body)
