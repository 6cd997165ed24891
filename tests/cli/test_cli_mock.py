"""``vatel mock``: the mock server as a standalone process."""

from __future__ import annotations

import sys

import pytest

import vatel


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_mock_serves_until_ctrl_c(bare_cli) -> None:
    key = "vk_cli_mock_test"
    with bare_cli.running("mock", "--port", "0", "--pace", "0", "--api-key", key) as process:
        assert process.stdout is not None
        base_url = None
        for line in process.stdout:
            if "listening on" in line:
                base_url = line.split()[-1]
            if line.startswith("Press Ctrl-C"):
                break
        assert base_url is not None and base_url.startswith("http://127.0.0.1:")
        with vatel.Client(key, base_url=base_url) as client:
            assert client.llms.list()
            assert len(client.agents.list()) == 2
        result = bare_cli.ctrl_c(process, timeout=30)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
