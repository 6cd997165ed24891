"""Keyword arguments accepted by the REST methods, and the check that refuses others.

The TypedDicts are generated from the contract (``_generated_params``); this module
re-exports them beside :func:`check_keywords`, which is ours.

A key left out is not sent; a key set to ``None`` is sent as JSON ``null``
(which, on the update methods, clears the field where the contract says so).
Nested settings accept a plain dict or the matching model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._generated_params import (
    AgentCreateParams,
    AgentUpdateParams,
    AssignmentCreateParams,
    AssignmentUpdateParams,
    CallerIDTransformParam,
    CallListParams,
    DialParams,
    NoiseCancelSettingsParam,
    SipTrunkCreateParams,
    SipTrunkUpdateParams,
    TimeoutSettingsParam,
    TwilioNumberImportParams,
    VadSettingsParam,
    VoiceSettingsParam,
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
        import difflib  # only for a mistake: a millisecond off every first call

        close = difflib.get_close_matches(name, names, n=1)
        quoted.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    what = "an unexpected keyword argument" if len(unknown) == 1 else "unexpected keyword arguments"
    raise TypeError(f"{method}() got {what} {', '.join(quoted)}; it accepts: {', '.join(names)}")
