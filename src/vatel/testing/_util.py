"""Ids and timestamps as the contract writes them."""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timezone

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID in its canonical hyphenated text form."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def new_id(rng: random.Random | None = None) -> str:
    """A random version-4 UUID; drawn from ``rng`` when given, so seeds repeat."""
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime) -> str:
    """``moment`` as an RFC 3339 UTC timestamp with a ``Z`` suffix."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 date or timestamp; naive values are taken as UTC.

    Raises ``ValueError`` when ``text`` is neither.
    """
    value = text.strip()
    # datetime.fromisoformat() learned the "Z" suffix only in Python 3.11.
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment
