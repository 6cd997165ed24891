"""The checks behind the REST models: one small function per field type, built
from the class annotations the first time a model validates.

A check takes a value and returns the value to keep (coerced where the mode
allows), or raises :class:`Invalid` with the problems it found, each located
below the value, so that nothing is spent on paths while a body is valid.
Problems are worded as pydantic words them, so that messages stay the same for
code that matched on them; an input value is never quoted, since a field may
hold a credential.

Two modes: *lax* for what the server sends (``"3"`` fits ``int``, an ISO string
or a Unix time fits ``datetime``, a ``Literal`` field typed ``| str`` takes any
string) and *strict* for request bodies a program builds (types as declared).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

if TYPE_CHECKING:
    from ._models_base import VatelModel

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]  # where (below the checked value), message, kind
Check = Callable[[Any], Any]


MAX_PROBLEMS = 100
"""Problems kept in detail; beyond these only their number is: a body of a
million bad items must not cost a million records to refuse."""


class Invalid(Exception):
    """What a check raises: the problems found, each located below the value
    (the first :data:`MAX_PROBLEMS` of them), and how many there were."""

    def __init__(self, problems: list[Problem], count: int | None = None) -> None:
        super().__init__(problems)
        self.problems = problems
        self.count = len(problems) if count is None else count


class Problems:
    """The problems of one value, gathered from the checks of its parts."""

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.count = 0

    def add(self, where: Loc, message: str, kind: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append((where, message, kind))

    def add_below(self, key: str | int, bad: Invalid) -> None:
        """The problems of a part, found under ``key``."""
        room = MAX_PROBLEMS - len(self.kept)
        if room > 0:
            self.kept += [((key, *where), msg, kind) for where, msg, kind in bad.problems[:room]]
        self.count += bad.count

    def raise_any(self) -> None:
        if self.count:
            raise Invalid(self.kept, self.count)


def _invalid(message: str, kind: str) -> Invalid:
    return Invalid([((), message, kind)])


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})

# ISO 8601 as APIs write it: a date, optionally a time (seconds, fractions and an
# offset optional), ``T`` or a space between. datetime.fromisoformat only reads
# all of these from Python 3.11 on. Patterns stay text until first use (re caches
# them): compiling at import would cost every first REST call.
_ISO = (
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"(Z|z|[+-]\d\d(?::?\d\d)?)?)?"
)
_INTEGER = r"[+-]?\d{1,4300}"  # 4300 digits: Python's own limit for int()
# Beyond this a number is read as milliseconds since the epoch, as pydantic reads it.
_MS_THRESHOLD = 2e10

MAX_DEPTH = 200
"""How deeply a value the SDK keeps without a type of its own (an ``Any`` field,
an unknown member) may nest: as deep as pydantic's parser reads, and far from
the recursion limit that would break ``model_dump`` or ``copy.deepcopy`` later."""

FLAT = (str, int, float, bool, type(None))
"""Values with nothing inside them to nest."""


def too_deep(value: Any) -> bool:
    """Whether ``value`` nests lists or dicts deeper than :data:`MAX_DEPTH`."""
    if isinstance(value, FLAT):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if not isinstance(v, FLAT))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if not isinstance(v, FLAT))
    return False


def _any(value: Any) -> Any:
    if too_deep(value):
        raise _invalid("Input is nested too deeply", "recursion_loop")
    return value


def _str(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _invalid("Input should be a valid string", "string_type")


def _int_strict(value: Any) -> Any:
    if type(value) is int:
        return value
    raise _invalid("Input should be a valid integer", "int_type")


def _int_lax(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value
    if kind is float and value.is_integer():
        return int(value)
    if kind is str:
        text = value.strip()
        if re.fullmatch(_INTEGER, text):
            return int(text)
    raise _invalid("Input should be a valid integer", "int_parsing")


def _float_strict(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    raise _invalid("Input should be a valid number", "float_type")


def _float_lax(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    if kind is str and len(value) <= 100:
        try:
            return float(value)
        except ValueError:
            pass
    raise _invalid("Input should be a valid number", "float_parsing")


def _bool_strict(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise _invalid("Input should be a valid boolean", "bool_type")


def _bool_lax(value: Any) -> Any:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str and len(value) <= 5:
        text = value.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _invalid("Input should be a valid boolean", "bool_parsing")


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or date and time, or ``None`` when ``text`` is not one."""
    match = re.fullmatch(_ISO, text.strip()) if len(text) <= 64 else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone | None = None
    if offset in ("Z", "z"):
        tz = timezone.utc
    elif offset:
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        minutes += hours * 60
        tz = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:  # month 13, 25 o'clock and the like
        return None


def _datetime_strict(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    raise _invalid("Input should be a valid datetime", "datetime_type")


def _datetime_lax(value: Any) -> Any:
    if isinstance(value, str):
        if 10 <= len(value) <= 35:
            # The C parser reads what servers write (``Z`` included from 3.11 on)
            # thirty times faster; the pattern reads the rest.
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                # It takes an offset's minutes past 59 (``+00:99``); the pattern refuses them.
                tail = value[-2:]
                if parsed.tzinfo is None or not tail.isdigit() or int(tail) < 60:
                    return parsed
        slow = parse_datetime(value)
        if slow is not None:
            return slow
    elif isinstance(value, datetime):
        return value
    elif type(value) in (int, float) and value == value and abs(value) < 1e14:
        seconds = value / 1000 if abs(value) > _MS_THRESHOLD else value
        try:
            return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
        except OverflowError:  # before year 1 or after 9999
            pass
    raise _invalid("Input should be a valid datetime", "datetime_parsing")


def _literal(values: tuple[Any, ...]) -> Check:
    allowed = frozenset(values)
    expected = " or ".join(repr(v) for v in values)

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in allowed:
            return value
        raise _invalid(f"Input should be {expected}", "literal_error")

    return check


_INNER: dict[Check, Check] = {}


def _optional(inner: Check) -> Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    _INNER[check] = inner
    return check


def _list_of(item: Check) -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _invalid("Input should be a valid list", "list_type")
        out = []
        problems: Problems | None = None
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except Invalid as bad:
                problems = problems or Problems()
                problems.add_below(i, bad)
        if problems is not None:
            problems.raise_any()
        return out

    return check


def _model(cls: type[VatelModel], by_name: bool) -> Check:
    message = f"Input should be a valid dictionary or instance of {cls.__name__}"
    build = cls._build if by_name else cls._read

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            return build(value)
        if isinstance(value, cls):
            return value
        raise _invalid(message, "model_type")

    return check


_SCALARS: dict[Any, tuple[Check, Check]] = {
    str: (_str, _str),
    int: (_int_strict, _int_lax),
    float: (_float_strict, _float_lax),
    bool: (_bool_strict, _bool_lax),
    datetime: (_datetime_strict, _datetime_lax),
}

EXACT: dict[Check, type] = {
    _str: str,
    _int_strict: int,
    _int_lax: int,
    _float_strict: float,
    _float_lax: float,
    _bool_strict: bool,
    _bool_lax: bool,
}
"""The type a check passes through unchanged: the caller may skip the call."""


def unwrap(check: Check) -> tuple[Check, bool]:
    """``check`` without its ``None`` case, and whether it had one."""
    inner = _INNER.get(check)
    return (inner, True) if inner is not None else (check, False)


def check_for(annotation: Any, *, strict: bool, by_name: bool) -> Check:
    """The check of a field typed ``annotation``.

    ``by_name`` also lets nested models take Python attribute names besides wire
    names (values a program passes); what the server sends is read by wire name.
    """
    if annotation is Any:
        return _any
    if type(annotation) is type:  # a class: hashing one is cheap, a typing form's is not
        scalar = _SCALARS.get(annotation)
        if scalar is not None:
            return scalar[0 if strict else 1]
        from ._models_base import VatelModel

        if issubclass(annotation, VatelModel):
            return _model(annotation, by_name)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return _literal(args)
    if origin is list:
        return _list_of(check_for(args[0], strict=strict, by_name=by_name))
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) < len(args):
            inner = options[0] if len(options) == 1 else Union[tuple(options)]  # noqa: UP007
            return _optional(check_for(inner, strict=strict, by_name=by_name))
        # ``Literal[...] | str``: an enumeration open to values newer than the SDK.
        if str in options and all(get_origin(a) is Literal or a is str for a in options):
            return _str
    raise TypeError(f"no check for the annotation {annotation!r}")


_NAMED: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "datetime": datetime,
    "Any": Any,
}

PLAIN_NAMES = frozenset({*_NAMED, "None", "list"})
"""The words of an annotation whose check means the same in every module (it names
no class of one): ``check_for_text`` reads these without the namespace."""


def check_for_text(
    text: str, namespace: dict[str, Any], *, strict: bool, by_name: bool
) -> Check | None:
    """The check of a postponed annotation such as ``list[VoiceCatalogEntry] | None``,
    read without compiling it, or ``None`` for a form this reading does not know
    (then the caller evaluates it). Names are looked up in ``namespace``."""
    parts = _split_union(text)
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) == 1:
        inner = _check_for_name(parts[0], namespace, strict=strict, by_name=by_name)
    elif "str" in parts and all(
        p == "str" or get_origin(namespace.get(p)) is Literal for p in parts
    ):
        inner = _str  # ``Literal[...] | str``, an enumeration open to newer values
    else:
        inner = None
    if inner is None or not optional:
        return inner
    return _optional(inner)


def _check_for_name(
    text: str, namespace: dict[str, Any], *, strict: bool, by_name: bool
) -> Check | None:
    if text.startswith("list[") and text.endswith("]"):
        item = check_for_text(text[5:-1], namespace, strict=strict, by_name=by_name)
        return None if item is None else _list_of(item)
    target = _NAMED.get(text, namespace.get(text))
    if target is None or not (isinstance(target, type) or get_origin(target) is Literal):
        return None
    return check_for(target, strict=strict, by_name=by_name)


def _split_union(text: str) -> list[str]:
    """``A | list[B | C] | None`` as ``["A", "list[B | C]", "None"]``."""
    if "[" not in text:  # most: no bracket to stay inside
        return [part.strip() for part in text.split("|")]
    parts: list[str] = []
    depth = start = 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts
