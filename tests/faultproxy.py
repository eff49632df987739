"""A small TCP fault proxy for tests (issue 4): sits between a node and its upstream on
127.0.0.1 and cuts connections after some bytes, stalls, or delays -- whatever the test sets,
changeable while it runs. It is the township's enrolment relay (``sync.relay``) with faults
put in its way, and counts the bytes that cross it, each way."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sync.relay import Connection, TcpRelay


@dataclass
class Faults:
    cut_after_bytes: int | None = None  # per connection, either direction
    delay_s: float = 0.0                # before forwarding each chunk
    stall_until: float = 0.0            # monotonic time; forward nothing before it
    refuse: bool = False                # close new connections at once


class FaultProxy(TcpRelay):
    def __init__(self, target: str) -> None:
        self.faults = Faults()
        self.cuts = 0
        super().__init__("127.0.0.1:0", target, max_connections=64, idle_s=3_600,
                         connect_timeout_s=5, socket_timeout_s=0.5)

    def refuse_new(self) -> bool:
        return self.faults.refuse

    def relay(self, conn: Connection) -> None:
        conn.state["budget"] = self.faults.cut_after_bytes  # both ways, as it is now
        super().relay(conn)

    def forward(self, data: bytes, up: bool, conn: Connection) -> bytes | None:
        while time.monotonic() < self.faults.stall_until and not self.stopping:
            time.sleep(0.05)
        if self.faults.delay_s:
            time.sleep(self.faults.delay_s)
        with self._lock:  # one budget for both directions
            budget = conn.state["budget"]
            if budget is None:
                return data
            assert isinstance(budget, int)
            if budget <= 0:
                self.cuts += 1
                return None
            conn.state["budget"] = budget - len(data[:budget])
        return data[:budget]
