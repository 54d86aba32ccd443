"""Test setup: a guard that fails any non-loopback connection, fakes, small corpora."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's RAG_* settings or writes to their data folder."""
    import os

    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
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
