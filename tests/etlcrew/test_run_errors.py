"""A run whose model cannot serve stops before touching any item: exit 2 for setup, 1 for a dead endpoint."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from etlcrew.cli import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_provider_key_is_a_setup_error(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code = main(["run", "--model", "anthropic/claude-3-5-haiku-latest"])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs ANTHROPIC_API_KEY to be set" in err and ".env" in err
    assert not (tmp_path / "output").exists(), "nothing was processed or written"


def test_dead_endpoint_fails_fast_naming_the_url(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = main(["run", "--model", "openai/anything", "--base-url", url])
    err = capsys.readouterr().err
    assert code == 1
    assert f"no model server answers at {url}" in err and "Traceback" not in err
    assert not (tmp_path / "output").exists()
