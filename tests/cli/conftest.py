"""Fixtures for the command-line tests: a fast mock server and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import vatel
from vatel.testing import MockServer

CLI_TIMEOUT = 60.0


@dataclass
class Result:
    """A finished ``vatel`` process."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.stdout.splitlines()]


def cli_env(server: MockServer | None = None, **extra: str) -> dict[str, str]:
    """The environment for a ``vatel`` subprocess: no stray settings, a wide table width."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VATEL_")}
    env.update(COLUMNS="200", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    # The vatel under test, whatever the working directory of the command.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(vatel.__file__).resolve().parents[1]), *filter(None, [env.get("PYTHONPATH")])]
    )
    if server is not None:
        env.update(VATEL_API_KEY=server.api_key, VATEL_BASE_URL=server.base_url)
    env.update(extra)
    return env


def start_cli(
    args: Sequence[str], *, env: dict[str, str], cwd: Path | None
) -> subprocess.Popen[str]:
    """Start ``python -m vatel ARGS``."""
    return subprocess.Popen(
        [sys.executable, "-m", "vatel", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
    )


def finish(process: subprocess.Popen[str], timeout: float = CLI_TIMEOUT) -> Result:
    """Wait for a started command and collect its output."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Result(process.returncode, stdout, stderr)


class Cli:
    """Runs ``vatel`` against one mock server (or none)."""

    def __init__(self, server: MockServer | None) -> None:
        self.server = server

    def env(self, **extra: str) -> dict[str, str]:
        """The environment the commands run with."""
        return cli_env(self.server, **extra)

    def __call__(self, *args: str, cwd: Path | None = None, **env: str) -> Result:
        return finish(start_cli(args, env=self.env(**env), cwd=cwd))

    @contextlib.contextmanager
    def running(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        """``vatel ARGS`` started in the background; killed and reaped at the end."""
        process = start_cli(args, env=self.env(), cwd=None)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate()

    @staticmethod
    def ctrl_c(process: subprocess.Popen[str], timeout: float) -> Result:
        """Press Ctrl-C in a :meth:`running` command; its result once it has exited."""
        process.send_signal(signal.SIGINT)
        return finish(process, timeout)

    def many(self, *commands: Sequence[str], cwd: Path | None = None) -> list[Result]:
        """Run independent commands side by side; their results in the same order."""
        env = self.env()
        return [finish(p) for p in [start_cli(args, env=env, cwd=cwd) for args in commands]]


@pytest.fixture
def cli(server: MockServer) -> Cli:
    """``cli("agents", "list")`` runs ``python -m vatel agents list`` against the mock."""
    return Cli(server)


@pytest.fixture
def bare_cli() -> Cli:
    """Runs ``vatel`` with no API key and no base URL in the environment."""
    return Cli(None)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(pace=0) as mock:
        yield mock
