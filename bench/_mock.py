"""The SDK's embedded mock server in a process of its own, for the REST benchmark.

``python -m bench._mock`` prints one JSON line (base URL, API key, an agent id)
and serves until its standard input closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ._common import ChildProcess


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


class MockProcess(ChildProcess):
    """The mock server in a child process, for ``with``."""

    module = "bench._mock"
    stop_timeout = 15.0

    def __init__(self) -> None:
        super().__init__()
        self.info: dict[str, Any] = {}

    def __enter__(self) -> MockProcess:
        line = self.start()
        try:
            self.info = json.loads(line)
        except ValueError:
            self.stop()
            raise RuntimeError(f"mock server did not start: {line!r}") from None
        return self


if __name__ == "__main__":
    main()
