"""The township's enrolment relay keeps its bounds (issue 12): at most ``max_connections`` at
once -- more are closed at once --, an idle connection is closed, and ``close()`` leaves no
socket or thread behind. Real sockets on 127.0.0.1, on ports the OS picks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sync.relay import TcpRelay


@pytest.fixture
def echo() -> Iterator[str]:
    """A TCP echo server on 127.0.0.1: what the relay forwards to."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve_one(c: socket.socket) -> None:
        c.settimeout(0.2)
        while not stop.is_set():
            try:
                data = c.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            c.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                c, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(c)
            threading.Thread(target=serve_one, args=(c,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for c in conns:
            c.close()
        thread.join(timeout=2)


def connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.settimeout(5)
    return s


def closed(s: socket.socket) -> bool:
    """True if the relay closed this connection (EOF or reset within the socket's timeout)."""
    try:
        return s.recv(10) == b""
    except ConnectionResetError:
        return True


def test_the_relay_forwards_and_caps_its_connections(echo: str) -> None:
    with TcpRelay("127.0.0.1:0", echo, max_connections=2, idle_s=60) as relay:
        first, second = connect(relay.address), connect(relay.address)
        for s in (first, second):
            s.sendall(b"ping")
            assert s.recv(10) == b"ping"
        third = connect(relay.address)  # over the cap: accepted by the OS, closed by the relay
        assert closed(third)
        first.sendall(b"still")
        assert first.recv(10) == b"still"  # the ones within the cap are untouched
        assert (relay.connections, relay.bytes_up, relay.bytes_down) == (2, 13, 13)
        for s in (first, second, third):
            s.close()


def test_an_idle_connection_is_closed_and_close_leaves_nothing(echo: str) -> None:
    before = threading.active_count()
    relay = TcpRelay("127.0.0.1:0", echo, max_connections=4, idle_s=0.5,
                     socket_timeout_s=0.1)
    idle = connect(relay.address)
    idle.sendall(b"x")
    assert idle.recv(10) == b"x"
    began = time.monotonic()
    assert closed(idle)  # nothing crossed for idle_s
    assert time.monotonic() - began < 4.5
    busy = connect(relay.address)
    relay.close()
    assert closed(busy)
    deadline = time.monotonic() + 3  # (the echo server's own threads end a moment later)
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
    idle.close()
    busy.close()
