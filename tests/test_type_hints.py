"""Every public callable's type hints resolve at run time, so tools that read
them (``typing.get_type_hints``, ``pydantic.validate_call``, typeguard,
documentation generators) work on the SDK."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from vatel._resources import AsyncResource, SyncResource

_PUBLIC_MODULES = ("vatel", "vatel.audio", "vatel.testing", "vatel.types")


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public functions and properties ``cls`` and its SDK base classes define."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("vatel"):
            continue
        for name, value in vars(klass).items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            if isinstance(value, property):
                value = value.fget
            elif isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if inspect.isfunction(value):
                yield f"{cls.__name__}.{name}", value


def _resource_classes() -> Iterator[type]:
    """Every resource group a client hands out (``client.agents``,
    ``client.agents.versions`` …): the classes of the resource modules."""
    package = importlib.import_module("vatel._resources")
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"vatel._resources.{info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and issubclass(value, (SyncResource, AsyncResource))
            ):
                yield value


def _public_callables() -> Iterator[tuple[str, Any]]:
    classes: list[type] = []
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value) and value.__module__.startswith("vatel"):
                classes.append(value)
            elif inspect.isfunction(value):
                yield f"{module_name}.{name}", value
    for cls in classes:
        yield cls.__qualname__, cls
        yield from _own_members(cls)
    for cls in _resource_classes():
        yield from _own_members(cls)


CALLABLES = dict(_public_callables())


def test_there_is_a_callable_to_check_for_every_public_area() -> None:
    # The collection above walks the real API: if it silently found nothing,
    # every parametrized case below would pass by not running.
    names = set(CALLABLES)
    for expected in (
        "vatel.connect",
        "Client.session_token",
        "AsyncConnection.run",
        "Agents.update",
        "AsyncCalls.list",
        "ToolRouter.tool",
    ):
        assert expected in names, expected
    assert len(names) > 80


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_type_hints_resolve(name: str) -> None:
    typing.get_type_hints(CALLABLES[name])
