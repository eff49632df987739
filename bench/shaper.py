"""A TCP proxy shaped like a weak rural uplink, for ``make bench`` (issue 12): a bandwidth
cap each way, a one-way delay (half the round trip), and every connection cut every
``cut_every_s`` seconds. It is the township's relay (``sync.relay``) with a shaped pump, and
counts the bytes that cross it, each way. (The kernel's netem would do this without Python
in the way; this machine's kernel has no netem qdisc, see docs/benchmarks.md.)

Each direction is a reader thread that stamps each chunk with when it may arrive
(``read + delay``) and a sender thread that sends it then, paced to the bandwidth: so the
delay is a pipe's latency, not a pause per chunk, and the cap holds however the sender
writes. Threads, bounded: sockets time out, ``stop()`` closes everything and joins.
"""

from __future__ import annotations

import queue
import socket
import time

from sync.relay import Connection, TcpRelay

__all__ = ["ShapedProxy"]

CHUNK = 16 * 1024
Pipe = queue.Queue[tuple[float, bytes] | None]


class ShapedProxy(TcpRelay):
    def __init__(self, target: str, *, bits_per_s: float = 1_000_000, rtt_s: float = 0.3,
                 cut_every_s: float | None = 30.0) -> None:
        self.bytes_per_s = bits_per_s / 8
        self.delay_s = rtt_s / 2
        self.cut_every_s = cut_every_s
        self.cuts = 0
        super().__init__("127.0.0.1:0", target, max_connections=64, idle_s=3_600,
                         connect_timeout_s=5, socket_timeout_s=0.5)
        if cut_every_s:
            self.spawn(self._cutter)

    def relay(self, conn: Connection) -> None:
        for src, dst, up in ((conn.client, conn.upstream, True),
                             (conn.upstream, conn.client, False)):
            pipe: Pipe = queue.Queue()
            self.spawn(self._read, src, pipe)
            self.spawn(self._send, src, dst, pipe, up)

    def _read(self, src: socket.socket, pipe: Pipe) -> None:
        try:
            while not self.stopping:
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

    def _send(self, src: socket.socket, dst: socket.socket, pipe: Pipe, up: bool) -> None:
        free_at = 0.0
        try:
            while not self.stopping:
                try:
                    item = pipe.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is None:
                    break
                arrive, data = item
                start = max(arrive, free_at)
                while (wait := start - time.monotonic()) > 0 and not self.stopping:
                    time.sleep(min(wait, 0.2))
                free_at = max(start, time.monotonic()) + len(data) / self.bytes_per_s
                dst.sendall(data)
                self.count(up, len(data))
        except OSError:
            pass
        finally:
            self.finish(src, dst)

    def _cutter(self) -> None:
        assert self.cut_every_s
        while not self._stop.wait(self.cut_every_s):
            if self.cut_all():
                self.cuts += 1
