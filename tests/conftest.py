"""Fixtures shared by the whole suite: the test HTTP server, the Hub
environment pointed at it, the llama-shaped GGUF the remote tests
serve, and a checkpoint with its faulty conversion (the compare tests).
The TUI's own fixtures are in tests/tui/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import converted_model, make_remote_model
from tests.httpserver import TestServer, _Server, start


@pytest.fixture(scope="session")
def compiled_kernels():
    """The compiled kernels (``stats.native``): made by numba the first time
    on a machine (~6 s), then loaded from their file."""
    from irpa_core.stats import native

    return native.load()


@pytest.fixture(scope="session")
def _http_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    """One listening server per test process (``http_server`` gives each
    test its own state on it)."""
    _, httpd = start(tmp_path_factory.mktemp("srv-idle"))
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def http_server(_http_daemon: _Server, tmp_path: Path) -> TestServer:
    """A fresh ``TestServer`` over ``tmp_path / "srv"`` for one test: its own
    files, request log and switches (delay, failures, token, ...)."""
    root = tmp_path / "srv"
    root.mkdir()
    ts = TestServer(root, port=_http_daemon.server_address[1])
    _http_daemon.ts = ts
    return ts


@pytest.fixture
def hub_env(http_server: TestServer, monkeypatch: pytest.MonkeyPatch) -> TestServer:
    """HF_ENDPOINT at the test server, no token anywhere."""
    monkeypatch.setenv("HF_ENDPOINT", http_server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(http_server.root.parent / "no-such-token"))
    return http_server


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The remote tests' llama-shaped GGUF (``fixtures.make_remote_model``),
    built once per test process."""
    return make_remote_model(tmp_path_factory.mktemp("model") / "model.gguf")


@pytest.fixture
def converted(tmp_path: Path) -> tuple[Path, Path]:
    """A small Hugging Face checkpoint (``model.safetensors``) and its Q4_0
    conversion ``m.gguf`` in ``tmp_path``, where blk.1.ffn_up is scaled by
    1.5 (a ``transform``) and blk.1.ffn_norm is left out (only in A)."""
    return converted_model(tmp_path)
