"""Every public method of every resource class has type hints that resolve at run time
(``typing.get_type_hints``), as documentation tools and run-time validators need."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import pytest
import typing_extensions

import vatel._resources
from vatel._resources import AsyncResource, SyncResource


def resource_classes() -> list[type]:
    """Every resource class of every module in ``vatel._resources``, found by import."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(vatel._resources.__path__):
        module = importlib.import_module(f"vatel._resources.{info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, (SyncResource, AsyncResource))
                and value.__module__ == module.__name__
            ):
                found[value.__qualname__] = value
    return [found[name] for name in sorted(found)]


def public_callables(cls: type) -> list[tuple[str, Callable[..., Any]]]:
    """``__init__``, the public methods and the property getters of ``cls``."""
    members: list[tuple[str, Callable[..., Any]]] = [("__init__", cls.__init__)]
    for name, value in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(value, property) and value.fget is not None:
            members.append((name, value.fget))
        elif inspect.isfunction(value):
            members.append((name, value))
    return members


CASES = [
    pytest.param(member, id=f"{cls.__qualname__}.{name}")
    for cls in resource_classes()
    for name, member in public_callables(cls)
]


def test_every_resource_module_is_enumerated() -> None:
    names = {cls.__qualname__ for cls in resource_classes()}
    assert {
        "Agents",
        "AsyncAgents",
        "Versions",
        "AsyncVersions",
        "Calls",
        "AsyncCalls",
        "LLMs",
        "AsyncLLMs",
        "Voices",
        "AsyncVoices",
        "OrganizationResource",
        "AsyncOrganizationResource",
        "SipTrunks",
        "AsyncSipTrunks",
        "Assignments",
        "AsyncAssignments",
        "TwilioNumbers",
        "AsyncTwilioNumbers",
    } <= names


@pytest.mark.parametrize("member", CASES)
def test_hints_resolve(member: Callable[..., Any]) -> None:
    hints = typing.get_type_hints(member)
    parameters = inspect.signature(member).parameters
    annotated = [name for name in parameters if name != "self"]
    assert set(annotated) <= set(hints), "every parameter is annotated"
    assert "return" in hints
    for name, parameter in parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            # ``**params: Unpack[SomeParams]``: the TypedDict itself resolves too.
            hint = hints[name]
            # typing's on 3.11+, typing_extensions' before
            assert get_origin(hint) in (getattr(typing, "Unpack", None), typing_extensions.Unpack)
            (typed_dict,) = get_args(hint)
            assert typing.get_type_hints(typed_dict)


def test_client_parameter_names_the_client_classes() -> None:
    import vatel

    assert typing.get_type_hints(SyncResource.__init__)["client"] is vatel.Client
    assert typing.get_type_hints(AsyncResource.__init__)["client"] is vatel.AsyncClient


@pytest.mark.timeout(60)
@pytest.mark.parametrize("first", ["vatel._resources.calls", "vatel._client"])
def test_either_side_of_the_client_resource_import_cycle_loads_first(first: str) -> None:
    code = (
        f"import importlib, typing; importlib.import_module({first!r}); "
        "from vatel._resources.calls import AsyncCalls, Calls; "
        "typing.get_type_hints(Calls.__init__); typing.get_type_hints(AsyncCalls.list); "
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
