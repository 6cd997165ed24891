"""A misspelt keyword argument is refused before anything is sent, on every resource
method, sync and async: ``agents.update(id, promt="p")`` must not answer 200 and change
nothing."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, get_args

import pytest

import vatel
from _support import Api
from test_resources_type_hints import resource_classes
from vatel._resources import AsyncResource
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

AN_ID = "00000000-0000-4000-8000-000000000000"
BOGUS = "bogus_option"


def resource_methods() -> list[tuple[type, str]]:
    """Every public method of every resource class (properties are sub-resources)."""
    return [
        (cls, name)
        for cls in resource_classes()
        for name, value in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    ]


def client_for(cls: type, server: MockServer) -> vatel.Client | vatel.AsyncClient:
    kind = vatel.AsyncClient if issubclass(cls, AsyncResource) else vatel.Client
    return kind(api_key=server.api_key, base_url=server.base_url)


def accepted_names(method: Callable[..., Any]) -> set[str]:
    """What a method's signature declares: its keyword parameters and the keys of
    the TypedDict its ``**params`` unpack."""
    names = set()
    hints = typing.get_type_hints(method)
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            (typed_dict,) = get_args(hints[name])
            names |= set(typing.get_type_hints(typed_dict))
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            names.add(name)
    return names


async def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = method(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def test_every_resource_method_is_enumerated() -> None:
    names = {f"{cls.__qualname__}.{name}" for cls, name in resource_methods()}
    assert {"Agents.update", "AsyncAgents.update", "Calls.list", "AsyncCalls.list"} <= names
    assert {"Calls.recording_bytes", "AsyncSipTrunks.create", "Assignments.update"} <= names
    assert len(names) >= 50


@pytest.mark.parametrize(
    ("cls", "name"),
    [pytest.param(cls, name, id=f"{cls.__qualname__}.{name}") for cls, name in resource_methods()],
)
async def test_unknown_keyword_is_refused_before_any_request(
    cls: type, name: str, shared_server: MockServer
) -> None:
    server = shared_server
    client = client_for(cls, server)
    try:
        method = getattr(cls(client), name)
        positional = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.default is p.empty
        ]
        before = len(server.requests)
        with pytest.raises(TypeError) as info:
            await call(method, *[AN_ID] * len(positional), **{BOGUS: "x"})
        assert BOGUS in str(info.value)
        takes_params = any(
            p.kind is inspect.Parameter.VAR_KEYWORD
            for p in inspect.signature(method).parameters.values()
        )
        if takes_params:
            # The SDK's own message lists what the method accepts.
            listed = str(info.value).split("it accepts: ", 1)[1].split(", ")
            assert set(listed) == accepted_names(method)
        assert len(server.requests) == before, "nothing reached the server"
    finally:
        closed = client.close()
        if inspect.isawaitable(closed):
            await closed


async def test_misspelt_prompt_is_refused_and_changes_nothing(api: Api, server: MockServer) -> None:
    agent_id = server.agent_ids[0]
    prompt = (await api(lambda c: c.agents.get(agent_id))).prompt
    assert prompt == "You are the front desk of Acme. Greet callers and answer briefly."
    server.clear_requests()
    with pytest.raises(TypeError) as info:
        await api(lambda c: c.agents.update(agent_id, promt="Be brief."))
    message = str(info.value)
    assert message.startswith("agents.update() got an unexpected keyword argument 'promt'")
    assert "did you mean 'prompt'?" in message
    assert "Be brief." not in message, "values are never quoted"
    assert [r.method for r in server.requests] == []
    assert (await api(lambda c: c.agents.get(agent_id))).prompt == prompt


async def test_misspelt_filter_does_not_list_every_call(api: Api, server: MockServer) -> None:
    with pytest.raises(TypeError) as info:
        await api(lambda c: c.calls.list(statuss="ended"))
    assert "'statuss' (did you mean 'status'?)" in str(info.value)
    with pytest.raises(TypeError) as info:
        await api(lambda c: c.calls.list_page(page=2, pagesize=5))
    assert "'pagesize' (did you mean 'page_size'?)" in str(info.value)
    assert server.requests == []


async def test_every_unknown_keyword_is_named(api: Api, server: MockServer) -> None:
    with pytest.raises(TypeError) as info:
        await api(
            lambda c: c.twilio_numbers.import_number(
                phone_number="+15550199",
                account_sid="AC" + "1" * 32,
                auth_tokn="twilio-secret",
                lable="Main",
            )
        )
    message = str(info.value)
    assert "unexpected keyword arguments 'auth_tokn' (did you mean 'auth_token'?)" in message
    assert "'lable' (did you mean 'label'?)" in message
    assert "twilio-secret" not in message
    assert server.requests == []


async def test_known_keywords_still_reach_the_server(api: Api, server: MockServer) -> None:
    agent = await api(lambda c: c.agents.create(name="Kept", prompt="Original."))
    updated = await api(lambda c: c.agents.update(agent.id, prompt="Changed."))
    assert updated.prompt == "Changed."
    assert server.requests[-1].json == {"prompt": "Changed."}
