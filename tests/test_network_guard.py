"""The suite itself cannot reach the network."""

import socket

import pytest

from tests.conftest import NetworkBlocked


def test_connection_to_a_public_address_is_refused_before_any_packet():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(NetworkBlocked):
            s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable anyway


def test_name_lookups_are_refused():
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("pypi.invalid", 443)


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(server.getsockname(), timeout=2):
        pass
    server.close()
