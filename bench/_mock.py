"""The SDK's embedded mock server in a process of its own, for the REST benchmark.

``python -m bench._mock`` prints one JSON line (base URL, API key, an agent id)
and serves until its standard input closes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from types import TracebackType
from typing import Any

from ._common import ROOT, process_cpu_seconds


def main() -> None:
    from vatel.testing import MockServer

    with MockServer(pace=0) as server:
        info = {
            "base_url": server.base_url,
            "api_key": server.api_key,
            "agent_id": server.agent_ids[0],
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()


class MockProcess:
    """The mock server in a child process, for ``with``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> MockProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._mock"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            self.info = json.loads(line)
        except ValueError:
            self.__exit__(None, None, None)
            raise RuntimeError(f"mock server did not start: {line!r}") from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)


if __name__ == "__main__":
    main()
