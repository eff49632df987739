"""A TCP proxy shaped like a weak rural uplink, for ``make bench`` (issue 12): a bandwidth
cap each way, a one-way delay (half the round trip), and every connection cut every
``cut_every_s`` seconds. It counts the bytes that cross it, each way.

Each direction is a reader thread that stamps each chunk with when it may arrive
(``read + delay``) and a sender thread that sends it then, paced to the bandwidth: so the
delay is a pipe's latency, not a pause per chunk, and the cap holds however the sender
writes. Threads, bounded: sockets time out, ``stop()`` closes everything and joins.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

__all__ = ["ShapedProxy"]

CHUNK = 16 * 1024


class ShapedProxy:
    def __init__(self, target: str, *, bits_per_s: float = 1_000_000, rtt_s: float = 0.3,
                 cut_every_s: float | None = 30.0) -> None:
        host, _sep, port = target.rpartition(":")
        self.target = (host, int(port))
        self.bytes_per_s = bits_per_s / 8
        self.delay_s = rtt_s / 2
        self.cut_every_s = cut_every_s
        self.bytes_up = 0
        self.bytes_down = 0
        self.cuts = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._spawn(self._accept)
        if cut_every_s:
            self._spawn(self._cutter)

    def _spawn(self, fn: object, *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
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
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                pipe: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
                self._spawn(self._read, src, pipe)
                self._spawn(self._send, dst, pipe, up)

    def _read(self, src: socket.socket, pipe: queue.Queue[tuple[float, bytes] | None]) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(CHUNK)
                except TimeoutError:
                    continue
                if not data:
                    break
                pipe.put((time.monotonic() + self.delay_s, data))
        except OSError:
            pass
        finally:
            pipe.put(None)

    def _send(self, dst: socket.socket, pipe: queue.Queue[tuple[float, bytes] | None],
              up: bool) -> None:
        free_at = 0.0
        try:
            while not self._stop.is_set():
                try:
                    item = pipe.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is None:
                    break
                arrive, data = item
                start = max(arrive, free_at)
                while (wait := start - time.monotonic()) > 0 and not self._stop.is_set():
                    time.sleep(min(wait, 0.2))
                free_at = max(start, time.monotonic()) + len(data) / self.bytes_per_s
                dst.sendall(data)
                with self._lock:
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)
            dst.close()

    def _cutter(self) -> None:
        assert self.cut_every_s
        while not self._stop.wait(self.cut_every_s):
            with self._lock:
                if self._sockets:
                    self.cuts += 1
                for s in self._sockets:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                    s.close()
                self._sockets.clear()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> ShapedProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
