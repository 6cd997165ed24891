"""The pytest plugin, used the way a user's own test suite uses it.

Each test writes a user's test files with ``pytester`` and runs pytest on them
in a child process, so the plugin loads as it does for a user. The child
imports this checkout's ``src``; when this checkout's entry point is not the
one installed (an editable install of another checkout, say), the plugin is
named with ``-p`` instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import vatel.testing

SRC = Path(vatel.testing.__file__).resolve().parents[2]
PYPROJECT = SRC.parent / "pyproject.toml"
PLUGIN = "vatel.testing._pytest_plugin"

pytestmark = pytest.mark.timeout(90)


def _entry_point_loads() -> bool:
    """Whether pytest itself would load the plugin in a child process."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == PLUGIN for ep in metadata.entry_points(group="pytest11"))


def _plugin_args() -> list[str]:
    return [] if _entry_point_loads() else ["-p", PLUGIN]


@pytest.fixture
def user_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's project directory whose pytest imports this checkout."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), *([path] if path else [])]))
    return pytester


def _run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(
        *_plugin_args(), "-p", "no:cacheprovider", "-W", "error", "-rA", *args
    )


def test_the_plugin_is_declared_as_a_pytest11_entry_point() -> None:
    text = PYPROJECT.read_text(encoding="utf-8")
    table = re.search(
        r"^\[project\.entry-points\.pytest11\]\n(?P<body>(?:[^\[].*\n?)*)", text, re.M
    )
    assert table is not None, "no [project.entry-points.pytest11] table in pyproject.toml"
    assert re.search(rf'^vatel\s*=\s*"{re.escape(PLUGIN)}"\s*$', table["body"], re.M)
    installed = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "vatel"]
    assert all(ep.value == PLUGIN for ep in installed)  # when installed, it names this module


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        f"import sys, {PLUGIN}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'httpx', 'jwt')"
        " or m.startswith('vatel.testing.') and m != '" + PLUGIN + "'))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"


USER_TESTS = """
import asyncio

import pytest

import vatel
from vatel.testing import ScriptError, end, expect_tool_output, say, tool_call


def weather(sky):
    tools = vatel.ToolRouter()

    @tools.tool()
    def get_weather(city: str) -> str:
        return f"{sky} in {city}"

    return tools


def script_for(mock, **expect):
    agent = mock.agent_ids[0]
    steps = [say("Hi"), tool_call("get_weather", city="Paris"),
             expect_tool_output(**expect), say("It is sunny"), end()]
    return agent, mock.script(agent, steps)


def test_sync_app(vatel_mock, vatel_client):
    agent, script = script_for(vatel_mock, contains="sunny")
    texts = []
    with vatel_client.connect(vatel_client.session_token(agent)) as conn:
        conn.run(tools=weather("sunny"),
                 on_event=lambda e: texts.append(e.text) if e.type == "response_text" else None)
    script.wait()
    assert texts == ["Hi", "It is sunny"]
    assert vatel_mock.pace == 0


async def _async_app(client, mock, sky):
    agent, script = script_for(mock, contains="sunny")
    async with client.connect(await client.session_token(agent)) as conn:
        await conn.run(tools=weather(sky))
    await script.wait_async()


@pytest.mark.anyio
async def test_async_app_under_anyio(vatel_mock, vatel_async_client):
    await _async_app(vatel_async_client, vatel_mock, "sunny")


def test_async_app_under_asyncio_run(vatel_mock, vatel_async_client):
    asyncio.run(_async_app(vatel_async_client, vatel_mock, "sunny"))
    # The client goes on working on a later loop of the test's own.
    assert asyncio.run(vatel_async_client.agents.list())


def test_unchecked_wrong_answer(vatel_mock, vatel_client):
    agent, script = script_for(vatel_mock, contains="sunny")
    with vatel_client.connect(vatel_client.session_token(agent)) as conn:
        try:
            conn.run(tools=weather("rain"))
        except vatel.ConnectionClosedError as exc:
            assert exc.code == 4000


def test_a_failure_the_test_expects(vatel_mock, vatel_client):
    agent, script = script_for(vatel_mock, equals="sunny", timeout=0.1)
    with pytest.raises(vatel.ConnectionClosedError):
        with vatel_client.connect(vatel_client.session_token(agent)) as conn:
            conn.run()
    with pytest.raises(ScriptError, match="nothing within 0.1 s"):
        script.wait()


def test_never_connects(vatel_mock):
    script_for(vatel_mock, contains="sunny")


@pytest.mark.vatel_mock(seed=False, pace=2)
def test_marker_options(vatel_mock, vatel_client):
    assert vatel_mock.agent_ids == [] and vatel_mock.pace == 2
    assert vatel_client.agents.list() == []


@pytest.mark.vatel_mock(pace=3, seed=False)
class TestMarkersMerge:
    @pytest.mark.vatel_mock(seed=True)
    def test_closest_wins_option_by_option(self, vatel_mock):
        assert vatel_mock.pace == 3 and len(vatel_mock.agent_ids) == 2


@pytest.mark.vatel_mock(no_such_option=1)
def test_bad_marker(vatel_mock):
    pass
"""


def test_a_users_suite_passes_and_fails_where_it_should(user_suite: pytest.Pytester) -> None:
    user_suite.makepyfile(test_app=USER_TESTS)
    result = _run(user_suite)

    # Passing tests with a failing script still fail: as an error at teardown.
    result.assert_outcomes(passed=8, errors=3)
    output = result.stdout.str()
    for name in ("test_sync_app", "test_async_app_under_anyio", "test_async_app_under_asyncio_run"):
        assert f"PASSED test_app.py::{name}" in output
    assert "PASSED test_app.py::test_a_failure_the_test_expects" in output
    assert "PASSED test_app.py::test_marker_options" in output
    assert "PASSED test_app.py::TestMarkersMerge::test_closest_wins_option_by_option" in output
    assert "ERROR test_app.py::test_unchecked_wrong_answer" in output
    assert "step 3 of 5, expect_tool_output(contains='sunny'), failed" in output
    assert "the app sent: 'rain in Paris' (it does not contain 'sunny')" in output
    assert "ERROR test_app.py::test_never_connects" in output
    assert "never ran: no voice session took it." in output
    assert "ERROR at setup of test_bad_marker" in output
    assert "no_such_option" in output
    assert "vk_test_" not in output  # the mock's API key stays out of the report


def test_without_the_mock_extra_the_fixtures_name_the_install_command(
    user_suite: pytest.Pytester,
) -> None:
    user_suite.makeconftest("import sys\nsys.modules['aiohttp'] = None\n")
    user_suite.makepyfile(
        test_plain="def test_unrelated():\n    assert True\n",
        test_mock="def test_uses_the_mock(vatel_mock):\n    pass\n",
    )
    result = _run(user_suite)

    result.assert_outcomes(passed=1, errors=1)
    output = result.stdout.str()
    assert "the vatel_mock fixture cannot start" in output
    assert "pip install 'vatel[mock]'" in output
