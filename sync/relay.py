"""A plain TCP relay: a township passes its villages' enrolment through to the county.

A village that can reach only its township (the usual rural network: village -> township ->
county) still enrols with the county itself: the TLS session -- the pinned CA, the server's
``HUB`` name, the token -- runs end to end between the village and the county's enrolment
service, and the township only forwards bytes it cannot read or change. It holds no secret and
needs no trust beyond what the network already gives it.

Threads, bounded: at most ``max_connections`` at once (more are closed at once), every socket
has a timeout, an idle connection is closed after ``idle_s``, and ``close()`` stops the
listener, closes every socket and joins the threads.

The same relay, with its hooks overridden, is the tests' fault proxy (``tests/faultproxy.py``)
and the benchmark's shaped rural link (``bench/shaper.py``): one forwarder, three uses. It
counts the bytes that cross it, each way.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from sync.tls import parse_address

__all__ = ["Connection", "TcpRelay"]

log = logging.getLogger("bianmin.relay")


@dataclass(eq=False)
class Connection:
    """One relayed connection: the two sockets, and room for a subclass's per-connection
    state (a fault proxy's byte budget)."""

    client: socket.socket
    upstream: socket.socket
    state: dict[str, object] = field(default_factory=dict)


class TcpRelay:
    def __init__(self, listen: str, target: str, *, max_connections: int = 16,
                 idle_s: float = 120.0, connect_timeout_s: float = 10.0,
                 socket_timeout_s: float = 1.0) -> None:
        self.target = parse_address(target)
        self.max_connections = max_connections
        self.idle_s = idle_s
        self.connect_timeout_s = connect_timeout_s
        self.socket_timeout_s = socket_timeout_s
        host, port = parse_address(listen)
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self.bytes_up = 0  # client -> target
        self.bytes_down = 0
        self._spawn(self._accept)

    # -- hooks ----------------------------------------------------------------------------------

    def refuse_new(self) -> bool:
        """True: close a new connection at once (a fault proxy's ``refuse``)."""
        return False

    def forward(self, data: bytes, up: bool, conn: Connection) -> bytes | None:
        """What to pass on of a chunk read (``up``: from the client); None cuts the
        connection. The relay passes everything as it is."""
        return data

    def relay(self, conn: Connection) -> None:
        """Start moving bytes both ways (two pumps); a shaped link starts its own."""
        self.spawn(self._pump, conn.client, conn.upstream, True, conn)
        self.spawn(self._pump, conn.upstream, conn.client, False, conn)

    # -- for subclasses -------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def spawn(self, target: Callable[..., object], *args: object) -> None:
        self._spawn(target, *args)

    def count(self, up: bool, n: int) -> None:
        with self._lock:
            if up:
                self.bytes_up += n
            else:
                self.bytes_down += n

    def cut_all(self) -> int:
        """Close every relayed connection now (a cut link); how many sockets were open."""
        with self._lock:
            sockets, self._open = set(self._open), set()
        for s in sockets:
            _close(s)
        return len(sockets)

    def finish(self, src: socket.socket, dst: socket.socket) -> None:
        for s in (src, dst):
            _close(s)
        with self._lock:
            self._open -= {src, dst}

    # -- the relay ------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="tcp-relay")
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                busy = len(self._open) >= 2 * self.max_connections
            if busy or self.refuse_new():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target,
                                                    timeout=self.connect_timeout_s)
            except OSError as exc:
                log.warning("cannot reach %s:%s to relay a connection: %s", *self.target, exc)
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(self.socket_timeout_s)
            with self._lock:
                self._open |= {client, upstream}
                self.connections += 1
            self.relay(Connection(client=client, upstream=upstream))

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool,
              conn: Connection) -> None:
        last = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() - last < self.idle_s:
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                passed = self.forward(data, up, conn)
                if passed is None:
                    break
                self.count(up, len(passed))
                dst.sendall(passed)
                last = time.monotonic()
        except OSError:
            pass
        finally:
            self.finish(src, dst)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self.cut_all()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=2)

    stop = close

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
