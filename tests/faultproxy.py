"""A small TCP fault proxy for tests (issue 4): sits between a node and its upstream on
127.0.0.1 and cuts connections after some bytes, stalls, or delays -- whatever the test sets,
changeable while it runs. It also counts the bytes that cross it, each way.

Threads, bounded: every socket has a timeout, ``stop()`` closes everything and joins.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class Faults:
    cut_after_bytes: int | None = None  # per connection, either direction
    delay_s: float = 0.0                # before forwarding each chunk
    stall_until: float = 0.0            # monotonic time; forward nothing before it
    refuse: bool = False                # close new connections at once


class FaultProxy:
    def __init__(self, target: str) -> None:
        host, _sep, port = target.rpartition(":")
        self.target = (host, int(port))
        self.faults = Faults()
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.faults.refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(0.5)
            with self._lock:
                self.connections += 1
                self._sockets |= {client, upstream}
            budget = [self.faults.cut_after_bytes]
            self._spawn(self._pump, client, upstream, True, budget)
            self._spawn(self._pump, upstream, client, False, budget)

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool,
              budget: list[int | None]) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                while time.monotonic() < self.faults.stall_until and not self._stop.is_set():
                    time.sleep(0.05)
                if self.faults.delay_s:
                    time.sleep(self.faults.delay_s)
                with self._lock:
                    if budget[0] is not None:
                        if budget[0] <= 0:
                            self.cuts += 1
                            break
                        data = data[:budget[0]]
                        budget[0] -= len(data)
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
