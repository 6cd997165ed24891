"""Fixtures of the reliability tests, and a summary of what they exercised."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from rel_support import EXAMPLES, FAULTS, MEASURES, PROFILE, SelfSigned


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not EXAMPLES and not FAULTS and not MEASURES:
        return
    terminalreporter.section("reliability")
    if EXAMPLES:
        terminalreporter.write_line(f"fuzz examples run (profile {PROFILE}):")
        for target, number in sorted(EXAMPLES.items()):
            terminalreporter.write_line(f"  {target:<44} {number:>8}")
    if FAULTS:
        terminalreporter.write_line("faults injected:")
        for kind, number in sorted(FAULTS.items()):
            terminalreporter.write_line(f"  {kind:<44} {number:>8}")
    if MEASURES:
        terminalreporter.write_line("measured:")
        for name, value in sorted(MEASURES.items()):
            terminalreporter.write_line(f"  {name}: {value}")


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """Made with the ``openssl`` command; the test is skipped where there is none."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: no certificate can be made")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=vatel test server",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return SelfSigned(cert, key)
