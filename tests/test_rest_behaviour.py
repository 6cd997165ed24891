"""How the REST clients behave around the operations: errors, retries, time-outs,
configuration, custom HTTP clients, concurrency and secrets."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import httpx
import pytest

import vatel
from _support import Api
from vatel.testing import MockServer

pytestmark = pytest.mark.anyio

CLIENTS = pytest.mark.parametrize("cls", [vatel.Client, vatel.AsyncClient], ids=["sync", "async"])


def requests_to(server: MockServer, path: str) -> int:
    return sum(1 for r in server.requests if r.path == path)


def statuses(server: MockServer, path: str) -> list[int]:
    """The status the server answered to each request for ``path``: a fault that
    fired shows as its status."""
    return [r.status for r in server.requests if r.path == path]


def no_fault_left(server: MockServer, method: str, path: str) -> bool:
    """True when no armed fault would still match ``method path``: every one fired.
    (Asking consumes nothing when the answer is True.)"""
    return server.faults.take_rest(method, path) is None


class TestStatusErrors:
    @pytest.mark.parametrize(
        ("status", "error_class"),
        [
            (400, vatel.BadRequestError),
            (401, vatel.AuthenticationError),
            (403, vatel.PermissionDeniedError),
            (404, vatel.NotFoundError),
            (409, vatel.ConflictError),
            (429, vatel.RateLimitError),
            (500, vatel.InternalServerError),
            (502, vatel.InternalServerError),
            (418, vatel.APIStatusError),
        ],
    )
    async def test_each_status_has_its_class(
        self, api: Api, server: MockServer, waits: list[float], status: int, error_class: type
    ) -> None:
        server.fail_next(10, status, body={"error": f"injected {status}"})
        with pytest.raises(error_class) as info:
            await api(lambda c: c.with_options(max_retries=0).organization.get())
        assert statuses(server, "/v1/organization") == [status]
        error = info.value
        assert isinstance(error, vatel.APIError)
        assert error.status_code == status
        assert error.message == f"injected {status}"
        assert f"injected {status}" in (error.body or "")
        assert str(status) in str(error) and "/v1/organization" in str(error)

    @CLIENTS
    async def test_wrong_api_key(self, server: MockServer, cls: type) -> None:
        api = Api(cls(api_key="wrong-key", base_url=server.base_url))
        try:
            with pytest.raises(vatel.AuthenticationError) as info:
                await api(lambda c: c.agents.list())
        finally:
            await api.close()
        assert info.value.status_code == 401 and statuses(server, "/v1/agents") == [401]
        assert "wrong-key" not in str(info.value) and "wrong-key" not in (info.value.body or "")

    async def test_error_without_json_body_uses_the_reason_phrase(
        self, api: Api, server: MockServer
    ) -> None:
        server.fail_next(1, 404, body="<html>gone</html>")
        with pytest.raises(vatel.NotFoundError) as info:
            await api(lambda c: c.organization.get())
        assert statuses(server, "/v1/organization") == [404]
        assert info.value.message == "Not Found"
        assert info.value.body == "<html>gone</html>"


class TestRetries:
    async def test_transient_failures_are_retried_then_succeed(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(2, 503)
        org = await api(lambda c: c.organization.get())
        assert org.id
        assert statuses(server, "/v1/organization") == [503, 503, 200]
        assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0

    async def test_retry_after_is_honoured(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(1, 429, retry_after=3)
        await api(lambda c: c.agents.list())
        assert waits == [3.0] and statuses(server, "/v1/agents") == [429, 200]

    async def test_a_long_retry_after_raises_instead_of_blocking(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(1, 429, retry_after=600)
        with pytest.raises(vatel.RateLimitError) as info:
            await api(lambda c: c.agents.list())
        assert info.value.retry_after == 600 and waits == []
        assert statuses(server, "/v1/agents") == [429]

    async def test_retries_give_up_after_max_retries(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(10, 500)
        with pytest.raises(vatel.InternalServerError):
            await api(lambda c: c.llms.list())
        assert statuses(server, "/v1/llms") == [500] * 3  # the default: 2 retries

    @CLIENTS
    async def test_max_retries_per_client_and_per_call(
        self, server: MockServer, waits: list[float], cls: type
    ) -> None:
        api = Api(cls(api_key=server.api_key, base_url=server.base_url, max_retries=4))
        try:
            server.fail_next(10, 502)
            with pytest.raises(vatel.InternalServerError):
                await api(lambda c: c.llms.list())
            assert statuses(server, "/v1/llms") == [502] * 5
            with pytest.raises(vatel.InternalServerError):
                await api(lambda c: c.with_options(max_retries=0).llms.list())
            assert statuses(server, "/v1/llms") == [502] * 6
            assert api.client.max_retries == 4 and len(waits) == 4
        finally:
            await api.close()

    async def test_a_post_that_may_have_been_processed_is_not_repeated(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(1, 500, method="POST")
        with pytest.raises(vatel.InternalServerError):
            await api(lambda c: c.agents.create(name="Once"))
        assert statuses(server, "/v1/agents") == [500] and waits == []

    async def test_a_post_refused_as_not_processed_is_repeated(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.fail_next(1, 503, method="POST", retry_after=1)
        agent = await api(lambda c: c.agents.create(name="Twice"))
        assert agent.name == "Twice" and waits == [1.0]
        assert statuses(server, "/v1/agents")[0] == 503 and len(statuses(server, "/v1/agents")) == 2
        names = [a.name for a in await api(lambda c: c.agents.list())]
        assert names.count("Twice") == 1

    @CLIENTS
    async def test_connection_refused_is_retried_then_raised(
        self, waits: list[float], cls: type
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        api = Api(cls(api_key="k", base_url=f"http://127.0.0.1:{port}"))
        try:
            with pytest.raises(vatel.APIConnectionError) as info:
                await api(lambda c: c.organization.get())
        finally:
            await api.close()
        assert not isinstance(info.value, vatel.APITimeoutError)
        assert len(waits) == 2
        assert info.value.status_code is None


class TestTimeouts:
    async def test_a_slow_answer_times_out(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.faults.delay_next(2.0)
        with pytest.raises(vatel.APITimeoutError) as info:
            await api(lambda c: c.with_options(timeout=0.2, max_retries=0).organization.get())
        assert isinstance(info.value, vatel.APIConnectionError)
        assert "timed out" in str(info.value).lower()
        assert no_fault_left(server, "GET", "/v1/organization"), "the delay was taken"

    async def test_a_timed_out_get_is_retried(
        self, api: Api, server: MockServer, waits: list[float]
    ) -> None:
        server.faults.delay_next(2.0)
        org = await api(lambda c: c.with_options(timeout=0.3).organization.get())
        assert org.id and len(waits) == 1
        assert no_fault_left(server, "GET", "/v1/organization"), "the delay was taken"
        # The delayed answer is recorded only once it is sent, after the retry's.
        assert statuses(server, "/v1/organization")[:1] == [200]


class TestConfiguration:
    @CLIENTS
    async def test_env_vars_supply_key_and_base_url(
        self, server: MockServer, monkeypatch: pytest.MonkeyPatch, cls: type
    ) -> None:
        monkeypatch.setenv("VATEL_API_KEY", server.api_key)
        monkeypatch.setenv("VATEL_BASE_URL", server.base_url + "/")
        api = Api(cls())
        try:
            assert api.client.base_url == server.base_url
            assert (await api(lambda c: c.organization.get())).id
        finally:
            await api.close()
        assert statuses(server, "/v1/organization") == [200]

    @CLIENTS
    async def test_arguments_win_over_env_vars(
        self, server: MockServer, monkeypatch: pytest.MonkeyPatch, cls: type
    ) -> None:
        monkeypatch.setenv("VATEL_API_KEY", "env-key")
        monkeypatch.setenv("VATEL_BASE_URL", "http://127.0.0.1:9")
        api = Api(cls(api_key=server.api_key, base_url=server.base_url))
        try:
            assert (await api(lambda c: c.organization.get())).id
        finally:
            await api.close()
        assert statuses(server, "/v1/organization") == [200]

    @CLIENTS
    def test_default_base_url(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        monkeypatch.delenv("VATEL_BASE_URL", raising=False)
        assert cls(api_key="k").base_url == "https://api.vatel.ai"

    def test_missing_key_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VATEL_API_KEY", raising=False)
        with pytest.raises(vatel.ConfigurationError, match="VATEL_API_KEY"):
            vatel.Client()
        with pytest.raises(vatel.ConfigurationError, match="VATEL_API_KEY"):
            vatel.AsyncClient()

    @CLIENTS
    def test_plain_http_to_a_remote_host_is_warned_about(
        self, caplog: pytest.LogCaptureFixture, cls: type
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="vatel"):
            cls(api_key="k", base_url="http://api.example.com")
            cls(api_key="k", base_url="http://127.0.0.1:8000")
            cls(api_key="k", base_url="https://api.example.com")
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "api.example.com" in warnings[0]
        assert "plain HTTP" in warnings[0]

    @CLIENTS
    def test_negative_retries_rejected(self, cls: type) -> None:
        with pytest.raises(ValueError, match="max_retries"):
            cls(api_key="k", max_retries=-1)


class TestCustomHttpClient:
    def test_sync_requests_go_through_the_callers_client(self, server: MockServer) -> None:
        seen: list[httpx.Request] = []
        http = httpx.Client(event_hooks={"request": [seen.append]}, headers={"X-Trace": "abc"})
        client = vatel.Client(api_key=server.api_key, base_url=server.base_url, http_client=http)
        assert client.organization.get().id
        assert seen and seen[0].headers["X-Trace"] == "abc"
        assert seen[0].headers["Authorization"] == f"Bearer {server.api_key}"
        client.close()
        assert not http.is_closed, "a caller's client is the caller's to close"
        http.close()

    async def test_async_requests_go_through_the_callers_client(self, server: MockServer) -> None:
        seen: list[httpx.Request] = []

        async def hook(request: httpx.Request) -> None:
            seen.append(request)

        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
            client = vatel.AsyncClient(
                api_key=server.api_key, base_url=server.base_url, http_client=http
            )
            assert (await client.organization.get()).id
            await client.close()
            assert not http.is_closed
        assert len(seen) == 1

    @pytest.mark.parametrize("flavour", ["sync", "async"])
    async def test_callers_timeout_is_used_unless_overridden(
        self, server: MockServer, flavour: str
    ) -> None:
        http: httpx.Client | httpx.AsyncClient
        if flavour == "sync":
            http = httpx.Client(timeout=1.5)
            client: vatel.Client | vatel.AsyncClient = vatel.Client(
                api_key=server.api_key, base_url=server.base_url, http_client=http
            )
            other = vatel.Client(api_key="k", http_client=http, timeout=9)
        else:
            http = httpx.AsyncClient(timeout=1.5)
            client = vatel.AsyncClient(
                api_key=server.api_key, base_url=server.base_url, http_client=http
            )
            other = vatel.AsyncClient(api_key="k", http_client=http, timeout=9)
        try:
            assert client.timeout == http.timeout
            assert other.timeout == 9
        finally:
            if isinstance(http, httpx.AsyncClient):
                await http.aclose()
            else:
                http.close()


class TestConcurrency:
    def test_one_client_shared_by_32_threads(self, server: MockServer) -> None:
        errors: list[BaseException] = []
        results: list[str] = []
        with vatel.Client(api_key=server.api_key, base_url=server.base_url) as client:

            def work(n: int) -> None:
                try:
                    for i in range(5):
                        agent = client.agents.create(name=f"thread-{n}-{i}")
                        results.append(client.agents.get(agent.id).name or "")
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert sorted(results) == sorted(f"thread-{n}-{i}" for n in range(32) for i in range(5))

    @pytest.mark.parametrize("tasks", [100, pytest.param(1000, marks=pytest.mark.slow)])
    async def test_one_async_client_shared_by_many_tasks(
        self, server: MockServer, tasks: int
    ) -> None:
        async with vatel.AsyncClient(api_key=server.api_key, base_url=server.base_url) as client:
            agents = await client.agents.list()

            async def fetch(n: int) -> str:
                return (await client.agents.get(agents[n % len(agents)].id)).id

            ids = await asyncio.gather(*(fetch(n) for n in range(tasks)))
        assert ids == [agents[n % len(agents)].id for n in range(tasks)]


class TestSecrets:
    async def test_key_and_token_never_reach_logs_reprs_or_errors(
        self, api: Api, server: MockServer, caplog: pytest.LogCaptureFixture, waits: list[float]
    ) -> None:
        caplog.set_level(logging.DEBUG)
        texts: list[str] = [repr(api.client), str(api.client)]
        agent = (await api(lambda c: c.agents.list()))[0]
        token = await api(lambda c: c.session_token(agent.id))
        texts += [repr(token), str(token)]
        server.fail_next(3, 503)
        server.fail_next(1, 401, body={"error": f"bad key {server.api_key}"})
        errors: list[vatel.APIError] = []
        for expected in (vatel.InternalServerError, vatel.AuthenticationError):
            with pytest.raises(expected) as info:
                await api(lambda c: c.organization.get())
            errors.append(info.value)
        assert statuses(server, "/v1/organization") == [503, 503, 503, 401]
        assert "bad key" in (errors[1].body or ""), "the echoed key came back, redacted"
        for exc in errors:
            texts += [str(exc), repr(exc), exc.message, exc.body or "", repr(exc.args)]
            texts += [repr(exc.__cause__), repr(exc.__context__)]
        texts += [record.getMessage() for record in caplog.records]
        assert len(caplog.records) > 3, "DEBUG logging was on"
        joined = "\n".join(texts)
        assert server.api_key not in joined
        assert token.token not in joined

    @CLIENTS
    def test_connection_url_is_the_one_place_a_token_appears(
        self, server: MockServer, cls: type
    ) -> None:
        client = cls(api_key=server.api_key, base_url=server.base_url)
        url = client.connection_url("tok.en", agent_id="a/b", version_id="v 1")
        assert url.startswith("ws://") and "token=tok.en" in url
        assert "agentId=a%2Fb" in url and "versionId=v+1" in url
        assert "tok.en" not in repr(client)
        https = cls(api_key="k", base_url="https://api.example.com/base/")
        assert https.connection_url("t", agent_id="a").startswith(
            "wss://api.example.com/base/v1/connection?"
        )


class TestLogging:
    async def test_each_request_and_its_status_are_logged_at_debug(
        self, api: Api, server: MockServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        agent = (await api(lambda c: c.agents.list()))[0]
        server.fail_next(1, 404, body={"error": "gone"})
        with pytest.raises(vatel.NotFoundError):
            await api(lambda c: c.with_options(max_retries=0).agents.get(agent.id))

        ours = [r.getMessage() for r in caplog.records if r.name == "vatel"]
        assert f"HTTP request: GET {server.base_url}/v1/agents" in ours
        assert "HTTP response: GET /v1/agents 200" in ours
        assert f"HTTP response: GET /v1/agents/{agent.id} 404" in ours
        # The SDK's own pool sends past httpx's client, which would log these again.
        assert not [r for r in caplog.records if r.name == "httpx"]
        assert server.api_key not in "\n".join(r.getMessage() for r in caplog.records)


class TestTypeHints:
    @pytest.mark.parametrize("cls", [vatel.Client, vatel.AsyncClient])
    def test_every_public_hint_resolves_at_run_time(self, cls: type) -> None:
        import inspect
        import typing

        hints = typing.get_type_hints(cls)
        assert "agents" in hints and "base_url" in hints
        methods = [
            member
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") or name in ("__init__", "__enter__", "__aenter__")
        ]
        assert len(methods) >= 6
        for method in methods:
            typing.get_type_hints(method)
        session_token = typing.get_type_hints(cls.session_token)
        assert session_token["return"] is vatel.SessionToken
        connect = typing.get_type_hints(cls.connect)["return"]
        assert connect in (vatel.Connection, vatel.AsyncConnect)

    def test_the_client_class_stays_light_to_import(self) -> None:
        import subprocess
        import sys

        probe = (
            "import sys, vatel; vatel.Client; vatel.AsyncClient; "
            "heavy = [m for m in sys.modules if m in ('vatel._connection', 'websockets', "
            "'vatel._resources.agents') or m.startswith('vatel._model')]; print(heavy)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
        )
        assert out.stdout.strip() == "[]"
