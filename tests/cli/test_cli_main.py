"""The entry points: missing extras, lazy imports, help and version."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vatel
from vatel._cli import main


def test_missing_click_prints_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["agents", "list"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "pip install 'vatel[cli]'" in lines[0]


def test_missing_rich_prints_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 1
    assert "pip install 'vatel[cli]'" in capsys.readouterr().err


def test_importing_vatel_never_imports_click_or_rich() -> None:
    code = (
        "import sys, vatel, vatel.audio; vatel.ToolRouter; vatel.SessionStarted; "
        "print(sorted(m for m in ('click', 'rich') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_sdk_works_without_click_and_rich() -> None:
    code = (
        "import sys; sys.modules['click'] = sys.modules['rich'] = None; "
        "import vatel; vatel.Client(api_key='x'); vatel.AsyncClient(api_key='x'); print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "ok"


def test_help_and_version(bare_cli) -> None:
    result, version = bare_cli.many(("--help",), ("--version",))
    assert result.returncode == 0, result.stderr
    for name in ("agents", "calls", "voices", "llms", "token", "talk", "demo", "mock"):
        assert f"  {name}" in result.stdout
    for option in ("--api-key", "--base-url", "--json", "--verbose"):
        assert option in result.stdout
    assert version.returncode == 0
    assert vatel.__version__ in version.stdout


def test_every_command_has_help_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from vatel._cli._app import get_cli

    def walk(command: click.Command, path: str) -> None:
        assert command.help, f"{path} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts} has no help text"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(get_cli(), "vatel")
