"""A plain TCP relay: a township passes its villages' enrolment through to the county.

A village that can reach only its township (the usual rural network: village -> township ->
county) still enrols with the county itself: the TLS session -- the pinned CA, the server's
``HUB`` name, the token -- runs end to end between the village and the county's enrolment
service, and the township only forwards bytes it cannot read or change. It holds no secret and
needs no trust beyond what the network already gives it.

Threads, bounded: at most ``max_connections`` at once (more are closed at once), every socket
has a timeout, an idle connection is closed after ``idle_s``, and ``close()`` stops the
listener, closes every socket and joins the threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

from sync.tls import parse_address

__all__ = ["TcpRelay"]

log = logging.getLogger("bianmin.relay")


class TcpRelay:
    def __init__(self, listen: str, target: str, *, max_connections: int = 16,
                 idle_s: float = 120.0, connect_timeout_s: float = 10.0) -> None:
        self.target = parse_address(target)
        self.max_connections = max_connections
        self.idle_s = idle_s
        self.connect_timeout_s = connect_timeout_s
        host, port = parse_address(listen)
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,  # type: ignore[arg-type]
                                  name="tcp-relay")
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
            if busy:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target,
                                                    timeout=self.connect_timeout_s)
            except OSError as exc:
                log.warning("cannot reach %s:%s to relay an enrolment: %s", *self.target, exc)
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(1.0)
            with self._lock:
                self._open |= {client, upstream}
                self.connections += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        last = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() - last < self.idle_s:
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                dst.sendall(data)
                last = time.monotonic()
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._open -= {src, dst}

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in list(self._open):
                with contextlib.suppress(OSError):
                    s.close()
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=2)

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
