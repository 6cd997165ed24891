"""The sync API is the async one without ``async``.

The sync REST code is generated from the async code by ``scripts/unasync.py``;
these tests hold that the generated code is current, that the check can fail,
and that the public surface of every sync/async pair (clients, the resource
groups reachable from them, connections, ``connect``) agrees: the same names,
the same parameters, annotations and defaults once async types are read as
their sync twins, and the same docstrings. Each exception is listed below with
its reason.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import inspect
import re
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Union, get_args, get_origin

import httpx
import pytest

import vatel
from _support import Api
from vatel._client import _Lazy
from vatel._resources import (
    AsyncResource,
    SyncResource,
    agents,
    calls,
    catalog,
    organization,
    sip_trunks,
    twilio_numbers,
)
from vatel.testing import MockServer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "unasync.py"
AGENTS = Path("src") / "vatel" / "_resources" / "agents.py"


def unasync(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
    )


# -- the generated code ----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_the_generated_sync_code_is_current() -> None:
    done = unasync("--check")
    assert done.returncode == 0, (
        "The sync code is stale; run `python scripts/unasync.py`:\n" + done.stdout + done.stderr
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the resource module of agents, in a checkout of its own."""
    (tmp_path / AGENTS).parent.mkdir(parents=True)
    shutil.copyfile(ROOT / AGENTS, tmp_path / AGENTS)
    return tmp_path


@pytest.mark.timeout(60)
def test_check_fails_on_an_edited_generated_block_and_a_rewrite_restores_it(
    checkout: Path,
) -> None:
    path = checkout / AGENTS
    original = path.read_text(encoding="utf-8")
    assert unasync("--check", root=checkout).returncode == 0, "the copy starts current"

    line = "        return self._request(_get(agent_id))\n"  # sync Agents.get, generated
    assert original.count(line) == 1
    path.write_text(original.replace(line, "        return None\n"), encoding="utf-8")

    done = unasync("--check", root=checkout)
    assert done.returncode == 1
    assert "-        return None\n" in done.stdout
    assert "+" + line in done.stdout
    assert path.read_text(encoding="utf-8") != original, "--check changes nothing"

    assert unasync(root=checkout).returncode == 0
    assert path.read_text(encoding="utf-8") == original


@pytest.mark.timeout(60)
def test_an_edit_to_the_async_source_shows_up_in_its_sync_twin(checkout: Path) -> None:
    path = checkout / AGENTS
    original = path.read_text(encoding="utf-8")
    old = '        """One agent."""\n'
    assert original.count(old) == 2  # AsyncAgents.get and its twin
    edited = original.replace(old, '        """One agent, by id."""\n', 1)
    path.write_text(edited, encoding="utf-8")

    done = unasync("--check", root=checkout)
    assert done.returncode == 1
    assert '+        """One agent, by id."""\n' in done.stdout

    assert unasync(root=checkout).returncode == 0
    assert path.read_text(encoding="utf-8").count('"""One agent, by id."""') == 2


@pytest.mark.timeout(60)
def test_an_async_name_without_a_sync_twin_is_refused(checkout: Path) -> None:
    path = checkout / AGENTS
    original = path.read_text(encoding="utf-8")
    old = "        return await self._request(_get(agent_id))\n"
    new = "        await asyncio.sleep(0)\n" + old
    path.write_text(original.replace(old, new), encoding="utf-8")

    done = unasync(root=checkout)
    assert done.returncode == 2
    assert "'asyncio'" in done.stderr
    assert path.read_text(encoding="utf-8") == original.replace(old, new), "nothing written"


# -- one behaviour the generated code brought to both flavours ----------------------


@pytest.mark.anyio
@pytest.mark.timeout(20)
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_closed_client_refuses_requests_also_on_the_callers_http_client(
    flavour: str, server: MockServer
) -> None:
    own: Any = httpx.Client() if flavour == "sync" else httpx.AsyncClient()
    cls: Any = vatel.Client if flavour == "sync" else vatel.AsyncClient
    api = Api(cls(api_key=server.api_key, base_url=server.base_url, http_client=own))
    assert (await api(lambda c: c.organization.get())).id
    await api.close()
    with pytest.raises(vatel.ClientClosedError):
        await api(lambda c: c.organization.get())
    assert not own.is_closed, "the caller's httpx client is the caller's to close"
    if flavour == "sync":
        own.close()
    else:
        await own.aclose()


# -- the public surface of each pair ---------------------------------------------------

# Async-only spellings of the same protocol.
DUNDER_TWINS = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
}
_PROTOCOL = {"__init__", "__repr__", *DUNDER_TWINS, *DUNDER_TWINS.values()}

# Parameters only one flavour has, by (sync pair name, member).
EXTRA_PARAMETERS = {
    # Sync tool calls run on a pool of threads; async ones each in a task.
    ("Connection", "run"): {"max_tool_threads"},
}

# Docstrings that describe how each flavour works, by (sync pair name, member);
# ``None`` is the class docstring.
FLAVOUR_DOCSTRINGS: dict[tuple[str, str | None], str] = {
    ("Client", None): "each client class documents its own flavour",
    ("Client", "connect"): "says how to await the async result or use it with async with",
    ("Connection", None): "each connection class documents its own flavour",
    ("Connection", "run"): "threads vs tasks for the tool calls",
    ("Connection", "close"): "safe from any thread vs from any task",
    ("vatel", "connect"): "the async one is lazy: errors split between the call and the await",
}

# Real inconsistencies, kept visible until fixed.
KNOWN_DRIFT: dict[tuple[str, str | None, str], str] = {}


class Pair(NamedTuple):
    name: str  # the sync class's name, or "vatel" for module functions
    sync: Any
    async_: Any


def _type_twins(pairs: list[Pair]) -> dict[Any, Any]:
    twins: dict[Any, Any] = {
        httpx.AsyncClient: httpx.Client,
        AsyncResource: SyncResource,
        # What awaiting (or entering) it gives.
        vatel.AsyncConnect: vatel.Connection,
    }
    twins.update({p.async_: p.sync for p in pairs if isinstance(p.sync, type)})
    return twins


_ORIGIN_TWINS = {
    collections.abc.AsyncIterator: collections.abc.Iterator,
    collections.abc.AsyncIterable: collections.abc.Iterable,
}


def render(hint: Any, twins: dict[Any, Any]) -> str:
    """A type hint as text, with async types read as their sync twins."""
    with contextlib.suppress(TypeError):  # an unhashable hint stays as it is
        hint = twins.get(hint, hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (collections.abc.Awaitable, collections.abc.Coroutine):
        return render(args[-1], twins)
    if origin is Union or origin is types.UnionType:
        return " | ".join(sorted(render(arg, twins) for arg in args))
    if origin is not None:
        origin = _ORIGIN_TWINS.get(origin, origin)
        return f"{render(origin, twins)}[{', '.join(render(arg, twins) for arg in args)}]"
    if isinstance(hint, type):
        return f"{hint.__module__}.{hint.__qualname__}"
    return repr(hint)


def sync_text(doc: str | None) -> str | None:
    """An async docstring with its names read as their sync twins."""
    if doc is None:
        return None
    doc = re.sub(r"\bAsync(?=[A-Z])", "", doc)
    return re.sub(r"\b__a(enter|exit|iter|next)__\b", r"__\1__", doc)


def public_names(owner: Any) -> set[str]:
    """Public names of a class or instance, and the protocol methods its SDK
    classes define; async spellings read as their sync twins."""
    names = {name for name in dir(owner) if not name.startswith("_")}
    cls = owner if isinstance(owner, type) else type(owner)
    for klass in cls.__mro__:
        if klass.__module__.startswith("vatel"):
            names |= _PROTOCOL & set(vars(klass))
    return {DUNDER_TWINS.get(name, name) for name in names}


def _static(cls: type, name: str) -> Any:
    async_name = {v: k for k, v in DUNDER_TWINS.items()}.get(name, name)
    for candidate in (name, async_name):
        try:
            return inspect.getattr_static(cls, candidate)
        except AttributeError:
            continue
    raise AttributeError(name)


def _walk(path: str, sync_obj: Any, async_obj: Any) -> Iterator[tuple[str, Pair]]:
    """Every resource group reachable from a pair of clients, through their
    lazy attributes and properties."""
    for name in sorted(public_names(type(sync_obj)) & public_names(type(async_obj))):
        member = inspect.getattr_static(type(sync_obj), name, None)
        if not isinstance(member, (_Lazy, property)):
            continue
        sync_value, async_value = getattr(sync_obj, name), getattr(async_obj, name)
        if isinstance(sync_value, SyncResource) or isinstance(async_value, AsyncResource):
            where = f"{path}.{name}"
            yield where, Pair(type(sync_value).__name__, type(sync_value), type(async_value))
            yield from _walk(where, sync_value, async_value)


def _reachable() -> dict[str, Pair]:
    sync_client = vatel.Client(api_key="twins-key", base_url="http://127.0.0.1:9")
    async_client = vatel.AsyncClient(api_key="twins-key", base_url="http://127.0.0.1:9")
    try:
        found = dict(_walk("client", sync_client, async_client))
        found["client"] = Pair("Client (instance)", sync_client, async_client)
    finally:
        sync_client.close()
        asyncio.run(async_client.close())
    return found


REACHABLE = _reachable()
PAIRS = [
    Pair("Client", vatel.Client, vatel.AsyncClient),
    *REACHABLE.values(),
    Pair("Connection", vatel.Connection, vatel.AsyncConnection),
]
CLASS_PAIRS = [p for p in PAIRS if isinstance(p.sync, type)]
TWINS = _type_twins(CLASS_PAIRS)


def test_the_walk_reaches_every_resource_group() -> None:
    # If the walk found nothing, every case below would pass by not running.
    found = {path: (p.sync, p.async_) for path, p in REACHABLE.items()}
    del found["client"]
    assert found == {
        "client.agents": (agents.Agents, agents.AsyncAgents),
        "client.agents.versions": (agents.Versions, agents.AsyncVersions),
        "client.calls": (calls.Calls, calls.AsyncCalls),
        "client.llms": (catalog.LLMs, catalog.AsyncLLMs),
        "client.organization": (
            organization.OrganizationResource,
            organization.AsyncOrganizationResource,
        ),
        "client.sip_trunks": (sip_trunks.SipTrunks, sip_trunks.AsyncSipTrunks),
        "client.sip_trunks.assignments": (sip_trunks.Assignments, sip_trunks.AsyncAssignments),
        "client.twilio_numbers": (
            twilio_numbers.TwilioNumbers,
            twilio_numbers.AsyncTwilioNumbers,
        ),
        "client.voices": (catalog.Voices, catalog.AsyncVoices),
    }


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{p.name}" for p in PAIRS])
def test_the_public_names_agree(pair: Pair) -> None:
    sync_names, async_names = public_names(pair.sync), public_names(pair.async_)
    assert sync_names == async_names, (
        f"only sync: {sorted(sync_names - async_names)}; "
        f"only async: {sorted(async_names - sync_names)}"
    )


def _members() -> Iterator[tuple[str, str | None, Any, Any]]:
    """(pair, member, sync member, async member); member ``None``: the class or
    function itself."""
    yield "vatel", "connect", vatel.connect, vatel.connect_async
    for pair in CLASS_PAIRS:
        yield pair.name, None, pair.sync, pair.async_
        for name in sorted(public_names(pair.sync) & public_names(pair.async_)):
            yield pair.name, name, _static(pair.sync, name), _static(pair.async_, name)


def _cases(aspect: str) -> list[Any]:
    cases = []
    for owner, name, sync_member, async_member in _members():
        reason = KNOWN_DRIFT.get((owner, name, aspect))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        case_id = f"{owner}.{name}" if name else owner
        cases.append(pytest.param(owner, name, sync_member, async_member, marks=marks, id=case_id))
    return cases


def _function(member: Any) -> Callable[..., Any] | None:
    if isinstance(member, property):
        return member.fget
    if isinstance(member, (staticmethod, classmethod)):
        return typing.cast(Callable[..., Any], member.__func__)
    return member if inspect.isfunction(member) else None


def describe(owner: type | None, name: str | None, member: Any, drop: set[str]) -> Any:
    """What a caller relies on in one member, async types read as sync ones."""
    if isinstance(member, _Lazy):
        assert owner is not None and name is not None
        return "lazy attribute", render(typing.get_type_hints(owner)[name], TWINS)
    function = _function(member)
    if function is None:
        return type(member).__name__
    hints = typing.get_type_hints(function)
    parameters = [
        (
            p.name,
            p.kind,
            repr(p.default),
            render(hints[p.name], TWINS) if p.name in hints else "-",
        )
        for p in inspect.signature(function).parameters.values()
        if p.name not in drop
    ]
    kind = "property" if isinstance(member, property) else "function"
    return kind, parameters, render(hints.get("return", "-"), TWINS)


_OWNERS = {p.name: p for p in CLASS_PAIRS}


@pytest.mark.parametrize(("owner", "name", "sync_member", "async_member"), _cases("signature"))
def test_the_signatures_agree(
    owner: str, name: str | None, sync_member: Any, async_member: Any
) -> None:
    if name is None and isinstance(sync_member, type):
        return  # a class: its __init__ is a case of its own
    pair = _OWNERS.get(owner)
    drop = EXTRA_PARAMETERS.get((owner, name or ""), set())
    sync_side = describe(pair.sync if pair else None, name, sync_member, drop)
    async_side = describe(pair.async_ if pair else None, name, async_member, drop)
    assert sync_side == async_side
    function = _function(sync_member)
    if function is not None:
        assert not inspect.iscoroutinefunction(function), "the sync API does not need await"
        assert not inspect.isasyncgenfunction(function)


def test_the_parameters_only_one_flavour_has_exist() -> None:
    # An exception above that no longer applies would hide a future mismatch.
    for (owner, name), extra in EXTRA_PARAMETERS.items():
        pair = _OWNERS[owner]
        sync_params = set(inspect.signature(getattr(pair.sync, name)).parameters)
        async_params = set(inspect.signature(getattr(pair.async_, name)).parameters)
        assert extra <= sync_params ^ async_params, (owner, name)


@pytest.mark.parametrize(("owner", "name", "sync_member", "async_member"), _cases("doc"))
def test_the_docstrings_agree(
    owner: str, name: str | None, sync_member: Any, async_member: Any
) -> None:
    sync_doc = inspect.getdoc(_function(sync_member) or sync_member)
    async_doc = inspect.getdoc(_function(async_member) or async_member)
    if (owner, name) in FLAVOUR_DOCSTRINGS:
        assert sync_doc and async_doc, "each flavour documents itself"
        assert sync_doc != sync_text(async_doc), "the exception no longer applies: drop it"
        return
    assert sync_doc == sync_text(async_doc)
