"""Tool outputs as the text a ``tool_call_output`` frame carries.

One encoder for every output, whether a :class:`vatel.ToolRouter` produced it
or the app passed it to ``send_tool_call_output``:

- a ``str`` is sent as is;
- JSON values (dict, list, str, int, float, bool, None) as JSON, integers exact;
- pydantic models and the REST models (``vatel.types``) via
  ``model_dump(mode="json")``, dataclass instances as
  objects of their fields, ``datetime`` / ``date`` / ``time`` in ISO 8601,
  enums by value, ``UUID`` / ``Decimal`` / paths as strings (a Decimal as a
  string keeps every digit a float would lose), tuples and sets as lists;
- ``bytes`` are refused: no encoding is right for every case (text would need a
  guessed charset, base64 would put an opaque blob into the agent's context),
  so the tool must decide: ``data.decode()`` or ``base64.b64encode(data)``.

Anything else, NaN and infinities (not JSON), cycles and nesting deeper than
:data:`MAX_DEPTH` raise :class:`ToolOutputError`, a ``TypeError`` that names
the type and where it sits, never the value itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import uuid
from collections.abc import Mapping
from typing import Any

from ._exceptions import VatelError

__all__ = ["MAX_DEPTH", "ToolOutputError", "tool_output_text"]

MAX_DEPTH = 100
"""How deeply an output may nest (objects and lists) before it is refused."""


class ToolOutputError(VatelError, TypeError):
    """A tool output cannot be sent as JSON; the message names the type and its place."""


# Built once: json.dumps() with non-default settings builds an encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode

_AS_STRING = (uuid.UUID, decimal.Decimal, pathlib.PurePath)
_ISO_8601 = (datetime.datetime, datetime.date, datetime.time)


def tool_output_text(output: Any) -> str:
    """``output`` as the frame's ``output`` string: a str as is, anything else as JSON.

    Raises :class:`ToolOutputError` (a ``TypeError``) for what cannot be sent.
    """
    if isinstance(output, str):
        return output
    try:
        # Plain JSON values, the usual case, never reach the converter.
        return _encode(output)
    except (TypeError, ValueError, RecursionError):
        pass
    converted = _jsonable(output, "$", 0, set())
    try:
        return _encode(converted)
    except ValueError as exc:  # e.g. an int beyond the interpreter's digit limit
        raise ToolOutputError(f"Tool output cannot be written as JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps well below the limit
        raise ToolOutputError("Tool output is nested too deeply to send as JSON.") from None


def _jsonable(value: Any, where: str, depth: int, path: set[int]) -> Any:
    """``value`` as plain JSON values, or :class:`ToolOutputError` naming ``where``.

    ``path`` holds the ids of the containers being converted above ``value``.
    """
    if depth > MAX_DEPTH:
        raise ToolOutputError(
            f"Tool output is nested more than {MAX_DEPTH} levels deep (at {_short(where)}); "
            "a cycle, or too deep to send as JSON."
        )
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, where, depth + 1, path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolOutputError(
                f"Tool output holds {value!r} at {_short(where)}, which JSON cannot carry."
            )
        return float(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in path:
            raise ToolOutputError(f"Tool output contains itself (at {_short(where)}).")
        path.add(id(value))
        try:
            if isinstance(value, Mapping):
                return {
                    _key(k, where): _jsonable(v, f"{where}[{_brief_key(k)}]", depth + 1, path)
                    for k, v in value.items()
                }
            return [_jsonable(v, f"{where}[{i}]", depth + 1, path) for i, v in enumerate(value)]
        finally:
            path.discard(id(value))
    if isinstance(value, _ISO_8601):
        return value.isoformat()
    if isinstance(value, _AS_STRING):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name), f"{where}.{f.name}", depth + 1, path)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ToolOutputError(
            f"Tool output holds {type(value).__name__} at {_short(where)}: decode text "
            "(data.decode()) or encode binary (base64) before returning it."
        )
    model_dump = _pydantic_dump(value)
    if model_dump is not None:
        return _jsonable(model_dump, where, depth + 1, path)
    raise ToolOutputError(
        f"Tool output holds a {_type_name(value)} at {_short(where)}, which cannot be sent as JSON."
    )


def _pydantic_dump(value: Any) -> Any:
    """A pydantic model's (or a REST model's) JSON-mode dump, or ``None`` for
    anything else."""
    # pydantic is only imported once an output is not plain JSON.
    from pydantic import BaseModel

    from ._models_base import VatelModel

    if isinstance(value, (BaseModel, VatelModel)):
        try:
            return value.model_dump(mode="json")
        except Exception as exc:
            raise ToolOutputError(
                f"Tool output model {_type_name(value)} cannot be dumped as JSON: "
                f"{type(exc).__name__}."
            ) from None
    return None


def _key(key: Any, where: str) -> str | int | float | bool | None:
    """A mapping key JSON can carry (str, numbers, bool, None)."""
    if key is None or isinstance(key, (str, bool)):
        return key
    if isinstance(key, enum.Enum):
        return _key(key.value, where)
    if isinstance(key, int):
        return int(key)
    if isinstance(key, float) and math.isfinite(key):
        return float(key)
    if isinstance(key, _ISO_8601):
        return key.isoformat()
    if isinstance(key, _AS_STRING):
        return str(key)
    raise ToolOutputError(
        f"Tool output has a {_type_name(key)} key in the object at {_short(where)}; "
        "JSON keys must be strings or numbers."
    )


def _type_name(value: Any) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _brief_key(key: Any) -> str:
    return repr(key) if isinstance(key, (str, int)) and len(str(key)) <= 40 else "…"


def _short(where: str) -> str:
    """A place in the output, shortened when the path is long."""
    return where if len(where) <= 120 else where[:60] + "…" + where[-40:]
