"""Base classes of the models that ``_models`` generates from the contract.

The models are plain classes, not pydantic ones: importing them costs a few
milliseconds, and a field's check is built the first time its class validates
(``_model_checks``), so the first REST call of a process pays for the models it
reads and nothing else. They keep the parts of pydantic's interface that
programs use (``model_validate``, ``model_dump``, ``model_dump_json``,
``model_copy``, ``model_extra``, ``model_fields_set``, ``model_fields``), and
fit into pydantic models and FastAPI responses as fields.

Responses are lenient (unknown fields kept, ``"3"`` fits ``int``); request-body
models (``InputModel``) are strict about types. Either side accepts a field by
its Python name or its wire name and dumps by wire name.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import sys
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_origin, get_type_hints

from ._exceptions import ValidationError
from ._model_checks import (
    EXACT,
    FLAT,
    PLAIN_NAMES,
    Check,
    Invalid,
    Problems,
    check_for,
    check_for_text,
    too_deep,
    unwrap,
)
from ._redact import REDACTED

if sys.version_info >= (3, 11):
    from typing import Self, dataclass_transform
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, dataclass_transform

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

__all__ = ["FieldInfo", "InputModel", "VatelModel", "field"]

# Extra members with names like these are masked in reprs. Patterns stay text until
# first use (re caches them): compiling at import would cost every first REST call.
_SECRET_NAME = r"(?i)token|password|secret|key|auth|credential"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class FieldInfo:
    """What a model knows of one field: its wire name, type and default."""

    __slots__ = ("alias", "annotation", "default", "name", "owner", "repr")

    def __init__(self, default: Any = REQUIRED, alias: str | None = None, repr: bool = True):
        self.name = ""
        self.alias = alias
        """The wire name, when it differs from the attribute's."""
        self.annotation: Any = None
        self.owner: type | None = None
        """The class whose body declares the field."""
        self.default = default
        self.repr = repr
        """Whether ``repr()`` shows the value (``False`` for credentials)."""

    @property
    def wire(self) -> str:
        """The member's name in JSON."""
        return self.alias or self.name

    def is_required(self) -> bool:
        """Whether the field has no default."""
        return self.default is REQUIRED

    def __repr__(self) -> str:
        alias = f", alias={self.alias!r}" if self.alias else ""
        return f"FieldInfo({self.name!r}, required={self.is_required()}{alias})"


def field(*, default: Any = REQUIRED, wire: str | None = None, repr: bool = True) -> Any:
    """A field whose wire name (``wire``) or repr differs from the defaults."""
    return FieldInfo(default, wire, repr)


class _Plan:
    """A class's checks for values a program passes (Python or wire names),
    built once: lookup by key, the required fields, defaults.

    Each key maps to ``(name, check, wire, exact, nullable)``: ``wire`` is the
    wire name when the key is the Python name (``None`` for the wire name
    itself); a value of type ``exact`` (or ``None`` where ``nullable``) is kept
    without calling the check, which is most values.
    """

    __slots__ = ("defaults", "lookup", "required")

    def __init__(self, cls: type[VatelModel]) -> None:
        self.lookup: dict[str, tuple[str, Check, str | None, type | None, bool]] = {}
        self.required: list[tuple[str, str]] = []
        self.defaults: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            inner, nullable = unwrap(_check_of(cls, info, True))
            exact = EXACT.get(inner)
            self.lookup[info.wire] = (name, inner, None, exact, nullable)
            if name != info.wire:
                self.lookup.setdefault(name, (name, inner, info.wire, exact, nullable))
            if info.is_required():
                self.required.append((name, info.wire))
            else:
                self.defaults[name] = info.default


class _WirePlan:
    """The checks of a class for what the server sends, by wire name only: the
    path every answer takes, kept apart from :class:`_Plan` so that it does the
    least work per member (no second spelling, no ``None`` wrapper to call)."""

    __slots__ = ("defaults", "lookup", "required", "wires")

    def __init__(self, cls: type[VatelModel]) -> None:
        self.lookup: dict[str, tuple[str, type | None, bool, Check]] = {}
        self.defaults: dict[str, Any] = {}
        required = []
        for name, info in cls.model_fields.items():
            inner, nullable = unwrap(_check_of(cls, info, False))
            self.lookup[info.wire] = (name, EXACT.get(inner), nullable, inner)
            if info.is_required():
                required.append(info.wire)
            else:
                self.defaults[name] = info.default
        self.required = tuple(required)
        # Where every wire name is the attribute's, the set of fields given is
        # the keys' intersection with this, computed in C.
        aliased = any(info.alias for info in cls.model_fields.values())
        self.wires = None if aliased else frozenset(self.lookup)


# Checks of postponed annotations that name no class of a module (``str | None``,
# ``list[str]``…), by (text, strict, by_name): the same few recur across fields, and
# mean the same everywhere. One naming a model is read anew, as a module reloaded
# rebinds its names.
_PLAIN_CHECKS: dict[tuple[str, bool, bool], Check] = {}


def _check_of(cls: type[VatelModel], info: FieldInfo, by_name: bool) -> Check:
    strict = cls._strict
    annotation = info.annotation
    if not isinstance(annotation, str):
        return check_for(annotation, strict=strict, by_name=by_name)
    # Postponed (the generated models are): read where it was written. Compiling
    # each field's annotation instead would cost a first call a millisecond a model.
    key = (annotation, strict, by_name)
    check = _PLAIN_CHECKS.get(key)
    if check is not None:
        return check
    owner = info.owner or cls
    namespace = vars(sys.modules[owner.__module__])
    check = check_for_text(annotation, namespace, strict=strict, by_name=by_name)
    if check is not None:
        words = annotation.replace("[", " ").replace("]", " ").replace("|", " ").split()
        if PLAIN_NAMES.issuperset(words):
            _PLAIN_CHECKS[key] = check
        return check
    try:
        resolved = _evaluate(owner.__module__, annotation)
    except NameError:  # a name local to where the class was defined
        resolved = get_type_hints(owner)[info.name]
    return check_for(resolved, strict=strict, by_name=by_name)


@cache
def _evaluate(module: str, text: str) -> Any:
    return eval(text, vars(sys.modules[module]))


class _LazyFields:
    """``model_fields`` of a class that has not been asked for them yet."""

    def __get__(self, instance: object, owner: type[VatelModel]) -> dict[str, FieldInfo]:
        fields = _collect_fields(owner)
        type.__setattr__(owner, "model_fields", fields)
        return fields


_LAZY_FIELDS: Any = _LazyFields()


def _collect_fields(cls: type[VatelModel]) -> dict[str, FieldInfo]:
    fields: dict[str, FieldInfo] = {}
    for base in reversed(cls.__bases__):
        if issubclass(base, VatelModel):
            fields.update(base.model_fields)
    for name, annotation in inspect.get_annotations(cls).items():
        if isinstance(annotation, str):  # postponed, as the generated models' are
            if annotation.startswith(("ClassVar", "typing.Class")):
                continue
        elif get_origin(annotation) is cast(Any, ClassVar):
            continue
        declared = cls.__dict__.get(name, REQUIRED)
        info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
        info.name = name
        info.annotation = annotation
        info.owner = cls
        fields[name] = info
        if info.is_required():
            if name in cls.__dict__:
                delattr(cls, name)
        elif isinstance(declared, FieldInfo):
            setattr(cls, name, info.default)
    return fields


_TOO_DEEP = "Input is nested too deeply"


def _problem(problems: Problems | None, key: str, message: str, kind: str) -> Problems:
    problems = problems or Problems()
    problems.add((key,), message, kind)
    return problems


def _keep_extra(
    problems: Problems | None, extra: dict[str, Any], key: str, value: Any
) -> Problems | None:
    """Keep an unknown member in ``extra``; one nested too deeply to walk safely
    later is a problem."""
    extra[key] = value
    if not isinstance(value, FLAT) and too_deep(value):
        return _problem(problems, key, "Input is nested too deeply", "recursion_loop")
    return problems


def _settle(problems: Problems | None, missing: list[str], forbidden: dict[str, Any]) -> None:
    """Add the required members that are ``missing`` and the ``forbidden`` unknown
    ones to ``problems``, and raise :class:`Invalid` if there are any."""
    for wire in missing:
        problems = _problem(problems, wire, "Field required", "missing")
    for key in forbidden:
        problems = _problem(problems, key, "Extra inputs are not permitted", "extra_forbidden")
    if problems is not None:
        problems.raise_any()


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class VatelModel:
    """Base of every REST model: unknown fields are kept, either name is accepted,
    and dumps use the wire names."""

    __slots__ = ("__dict__", "__weakref__", "_extra", "_fields_set")

    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    """The fields, by attribute name."""
    _strict: ClassVar[bool] = False
    _forbid_extra: ClassVar[bool] = False
    _name_plan: ClassVar[_Plan | None] = None
    _wire_plan: ClassVar[_WirePlan | None] = None

    _extra: dict[str, Any]
    _fields_set: set[str]

    def __init_subclass__(cls, *, forbid_extra: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The fields are read from the class body when first asked for: at import
        # that would cost every model, most of which a program never reads.
        cls.model_fields = _LAZY_FIELDS
        cls._forbid_extra = forbid_extra or cls._forbid_extra
        cls._name_plan = None
        cls._wire_plan = None

    def __init__(self, **data: Any) -> None:
        try:
            self._fill(data)
        except Invalid as bad:
            raise ValidationError(type(self).__name__, bad.problems, bad.count) from None

    # -- validation ------------------------------------------------------------------

    @classmethod
    def _build(cls, data: dict[str, Any]) -> Self:
        """A model from values a program passes (either name), or :class:`Invalid`."""
        self = cls.__new__(cls)
        self._fill(data)
        return self

    @classmethod
    def _read(cls, data: dict[str, Any]) -> Self:
        """A model from what the server sent (wire names only), or :class:`Invalid`."""
        plan = cls._wire_plan
        if plan is None:
            plan = cls._wire_plan = _WirePlan(cls)
        lookup = plan.lookup
        values = plan.defaults.copy()
        extra: dict[str, Any] = {}
        problems: Problems | None = None
        for key, value in data.items():
            hit = lookup.get(key)
            if hit is None:
                problems = _keep_extra(problems, extra, key, value)
                continue
            name, exact, nullable, check = hit
            if type(value) is exact or (value is None and nullable):
                values[name] = value
                continue
            try:
                values[name] = check(value)
            except Invalid as bad:
                problems = problems or Problems()
                problems.add_below(key, bad)
        missing = [wire for wire in plan.required if wire not in data]
        _settle(problems, missing, extra if cls._forbid_extra else {})
        self = cls.__new__(cls)
        self.__dict__ = values
        self._extra = extra
        wires = plan.wires
        if wires is not None:
            self._fields_set = data.keys() & wires
        else:
            self._fields_set = {lookup[k][0] for k in data if k in lookup}
        return self

    def _fill(self, data: dict[str, Any]) -> None:
        """Validate ``data`` (either name) into this instance, or raise :class:`Invalid`."""
        plan = self._name_plan
        if plan is None:
            plan = type(self)._name_plan = _Plan(type(self))
        lookup = plan.lookup
        values = dict(plan.defaults)
        given: set[str] = set()
        extra: dict[str, Any] = {}
        problems: Problems | None = None
        for key, value in data.items():
            hit = lookup.get(key)
            if hit is None:
                problems = _keep_extra(problems, extra, key, value)
                continue
            name, check, wire, exact, nullable = hit
            if wire is not None and wire in data:
                continue  # both spellings given: the wire name wins, as in pydantic
            given.add(name)
            if type(value) is exact or (value is None and nullable):
                values[name] = value
                continue
            try:
                values[name] = check(value)
            except Invalid as bad:
                problems = problems or Problems()
                problems.add_below(key, bad)
        missing = [wire for name, wire in plan.required if name not in given]
        _settle(problems, missing, extra if self._forbid_extra else {})
        self.__dict__ = values
        self._extra = extra
        self._fields_set = given

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """A model from a dict (Python or wire names) or an instance of the class.

        Raises :class:`vatel.ValidationError` when the values do not fit.
        """
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, dict):
            message = f"Input should be a valid dictionary or instance of {cls.__name__}"
            raise ValidationError(cls.__name__, [((), message, "model_type")])
        try:
            return cls._build(obj)
        except Invalid as bad:
            raise ValidationError(cls.__name__, bad.problems, bad.count) from None

    @classmethod
    def model_validate_json(cls, data: str | bytes | bytearray) -> Self:
        """A model from JSON text; see :meth:`model_validate`."""
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            message = "Invalid JSON"
            raise ValidationError(cls.__name__, [((), message, "json_invalid")]) from None
        return cls.model_validate(obj)

    # -- reading -----------------------------------------------------------------

    @property
    def model_extra(self) -> dict[str, Any]:
        """Members of the answer this SDK does not know yet, by wire name."""
        return self._extra

    @property
    def model_fields_set(self) -> set[str]:
        """The fields that were given (not left to their default)."""
        return self._fields_set

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] | str = "python",
        by_alias: bool = True,
        exclude_none: bool = False,
        exclude_unset: bool = False,
    ) -> dict[str, Any]:
        """The model as a dict: wire names unless ``by_alias=False``; with
        ``mode="json"`` only JSON types (datetimes as ISO 8601 text). Unknown
        members are included as they came."""
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")
        dump = _Dumper(mode == "json", by_alias, exclude_none, exclude_unset)
        return dump.model(self)

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        by_alias: bool = True,
        exclude_none: bool = False,
        exclude_unset: bool = False,
    ) -> str:
        """The model as JSON text; see :meth:`model_dump`."""
        data = self.model_dump(
            mode="json", by_alias=by_alias, exclude_none=exclude_none, exclude_unset=exclude_unset
        )
        separators = (",", ":") if indent is None else None
        return json.dumps(data, indent=indent, separators=separators, ensure_ascii=False)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update``'s fields set as given (not validated, as in pydantic)."""
        duplicate = copy.deepcopy(self) if deep else copy.copy(self)
        if update:
            duplicate.__dict__ = {**duplicate.__dict__}
            duplicate._extra = {**duplicate._extra}
            for key, value in update.items():
                if key in self.model_fields:
                    duplicate.__dict__[key] = value
                else:
                    duplicate._extra[key] = value
            duplicate._fields_set = self._fields_set | (update.keys() & self.model_fields.keys())
        return duplicate

    def __copy__(self) -> Self:
        duplicate = type(self).__new__(type(self))
        duplicate.__dict__ = dict(self.__dict__)
        duplicate._extra = dict(self._extra)
        duplicate._fields_set = set(self._fields_set)
        return duplicate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VatelModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self._extra == other._extra
        )

    def __repr__(self) -> str:
        shown = [
            f"{name}={_shown(self.__dict__.get(name))}"
            for name, info in self.model_fields.items()
            if info.repr
        ]
        shown += [
            f"{key}={REDACTED if _secret_name(key) else _shown(value)}"
            for key, value in self._extra.items()
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- inside pydantic models ------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Lets a pydantic model (or a FastAPI response) hold this model as a field."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.model_validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_for_pydantic, info_arg=True
            ),
        )


# Containers below this depth show as ``{...}`` / ``[...]`` in a repr (a value a
# program put there may even contain itself).
_REPR_DEPTH = 32


def _secret_name(key: object) -> bool:
    return re.search(_SECRET_NAME, str(key)) is not None


def _shown(value: Any, depth: int = 0) -> str:
    """``repr(value)``, but what a dict holds under a secret-looking key, at any
    depth, shows as ``***``: a node's tool settings may carry an API key."""
    if isinstance(value, dict):
        if depth >= _REPR_DEPTH:
            return "{...}"
        return (
            "{"
            + ", ".join(
                f"{k!r}: {REDACTED if _secret_name(k) else _shown(v, depth + 1)}"
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, (list, tuple)):
        if depth >= _REPR_DEPTH:
            return "[...]"
        items = ", ".join(_shown(v, depth + 1) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    return repr(value)


def _dump_for_pydantic(model: VatelModel, info: Any) -> Any:
    return model.model_dump(mode="json" if info.mode == "json" else "python")


class InputModel(VatelModel):
    """Base of request-body models: strict about types, open to extra fields
    unless the contract forbids them."""

    __slots__ = ()
    _strict = True


class _Dumper:
    __slots__ = ("by_alias", "exclude_none", "exclude_unset", "json")

    def __init__(self, json: bool, by_alias: bool, exclude_none: bool, exclude_unset: bool):
        self.json = json
        self.by_alias = by_alias
        self.exclude_none = exclude_none
        self.exclude_unset = exclude_unset

    def model(self, model: VatelModel) -> dict[str, Any]:
        out: dict[str, Any] = {}
        values = model.__dict__
        for name, info in model.model_fields.items():
            if self.exclude_unset and name not in model._fields_set:
                continue
            value = values.get(name)
            if value is None and self.exclude_none:
                continue
            out[info.wire if self.by_alias else name] = self.value(value)
        for key, value in model._extra.items():
            if not (value is None and self.exclude_none):
                out[key] = self.value(value)
        return out

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, (str, int, float)):
            return value
        if isinstance(value, VatelModel):
            return self.model(value)
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {
                k: self.value(v) for k, v in value.items() if not (v is None and self.exclude_none)
            }
        if isinstance(value, datetime) and self.json:
            return _iso(value)
        return value


def _iso(value: datetime) -> str:
    # As pydantic writes it: ``Z`` for UTC.
    text = value.isoformat()
    if value.utcoffset() == timedelta(0):
        text = text.removesuffix("+00:00") + "Z"
    return text


def response_checker(tp: Any) -> Check:
    """The check of a response body typed ``tp`` (a model or a list of models),
    read by wire names; it raises :class:`Invalid`."""
    if isinstance(tp, type) and issubclass(tp, VatelModel):
        return _read_body(tp)
    return check_for(tp, strict=False, by_name=False)


def _read_body(cls: type[VatelModel]) -> Check:
    message = f"Input should be a valid dictionary or instance of {cls.__name__}"

    def check(value: Any) -> Any:
        if type(value) is dict:
            return cls._read(value)
        raise Invalid([((), message, "model_type")])

    return check
