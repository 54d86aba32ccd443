"""Test setup: a guard that fails any non-loopback connection, fakes, small corpora, servers."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from rag.bench import free_port  # noqa: F401  (tests import it from here)
from tests.fakes import FakeEncoder, FakeLLM

REPO = Path(__file__).resolve().parent.parent


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach beyond this machine."""


def _is_loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


def _guard_address(address) -> None:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"test tried to connect to {address[0]}: tests must stay on loopback")


@pytest.fixture(autouse=True, scope="session")
def block_network():
    """Fail any connection or name lookup that would leave the machine."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        _guard_address(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _guard_address(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise NetworkBlocked(f"test tried to resolve {host}: tests must stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex
    socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """One folder for the joined models of the whole run: a chunked model is joined once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path, models_dir):
    """No test reads the developer's RAG_* settings or writes to their data folder."""
    import os

    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Three small articles, one in a subfolder."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "drones.txt").write_text(
        "Drone attack on the capital\n\n"
        "The armed forces said that Russia launched 35 Shahed drones overnight. "
        "Air defences intercepted 30 of them.\n"
        "Also Read :  Stocks fall in Asia\n"
        "The mayor said about 3% of consumers were left without heat.\n", encoding="utf-8")
    (root / "sub" / "loan.md").write_text(
        "# Loan for Minsk\n\n"
        "Moscow promised to grant Minsk a state loan of $1.5 billion. "
        "The leaders met in Sochi on Monday.\n", encoding="utf-8")
    (root / "bakery.txt").write_text(
        "A bakery opens in Lyon\n\n"
        "Chef Marie Dubois opened her bakery on Rue Mercière in 2019. "
        "She sells about 400 croissants every morning.\n", encoding="utf-8")
    return root


@pytest.fixture
def settings(tmp_path, corpus):
    from rag.settings import Settings

    return Settings(index_dir=tmp_path / "index", corpus=[corpus], model="", embedder="fake")


@pytest.fixture
def run(monkeypatch, tmp_path, corpus):
    """The `rag` command in-process, with the fake encoder and the small corpus."""
    import rag.pipeline
    from rag.cli import app

    monkeypatch.setattr(rag.pipeline, "load_encoder", lambda settings: FakeEncoder())
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_CORPUS", f'["{corpus}"]')
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)
    return invoke


def assert_user_error(result, *needles):
    """The command failed the way a user should see it: one line, exit 2, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def smollm2_path() -> str:
    """The bundled SmolLM2-135M GGUF: a small real model for adapter tests."""
    from rag.models import FALLBACK, bundled_path, spec

    return str(bundled_path(spec(FALLBACK)) or "")


def answers_200(url: str) -> bool:
    """True once a GET of url answers 200."""
    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status == 200
    except OSError:
        return False


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a server subprocess: no RAG_* or proxy settings of the developer's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAG_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(RAG_INDEX_DIR=str(home / "index"), XDG_DATA_HOME=str(home / "xdg"), HF_HUB_OFFLINE="1",
               RAG_MODELS_DIR=os.environ.get("RAG_MODELS_DIR", str(home / "models")),
               GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost", **extra)
    return env


@contextlib.contextmanager
def running(argv: list[str], ready_url: str, log_path: Path, env: dict[str, str],
            timeout: float = 180) -> Iterator[None]:
    """Run a server process on loopback until the block ends; fails the test if it never gets ready."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not answers_200(ready_url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(argv[:4])} did not start:\n{log_path.read_text()}")
                time.sleep(0.5)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")  # one real server for the API and browser tests
def rag_server(tmp_path_factory) -> Iterator[str]:
    """`rag serve` with the bundled models on a free loopback port, with its own index and data
    folders; yields the page's URL (the API is under v1/)."""
    home = tmp_path_factory.mktemp("serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with running([sys.executable, "-m", "rag", "serve", "--port", str(port)], url,
                 home / "server.log", server_env(home)):
        yield url
