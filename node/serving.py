"""Serving pulls (DESIGN §8), for every tier that is an upstream: the hub and townships.

A pull streams, log by log, the records after the caller's cursors that are meant for it (or
for everyone), in batches, each with the signer certificates it needs and the cursor to save.
Cursors move past records meant for others, so nothing is scanned twice. With ``follow_s``
the stream then stays open, polling the database for newly committed records -- the database,
because another process (a ``hub decide``, another hub process) may have written them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping

from node.kernel.identity import certificate_der
from node.kernel.wire import decode_body
from node.store.seam import Store
from sync import PullBatch, WireRecord

__all__ = ["FOLLOW_POLL_S", "MAX_FOLLOW_S", "PULL_BATCH", "Followers", "serve_pull"]

PULL_BATCH = 500
MAX_FOLLOW_S = 300  # a follower asking for longer is held this long
FOLLOW_POLL_S = 0.5


class Followers:
    """At most ``limit`` calls follow at once: each holds a server thread while it waits."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))

    def try_enter(self) -> bool:
        return self._slots.acquire(blocking=False)

    def leave(self) -> None:
        self._slots.release()


def serve_pull(store: Store, served: Mapping[str, list[str] | None],
               cursors: Mapping[str, int], *, follow_s: float = 0.0,
               alive: Callable[[], bool] = lambda: True,
               followers: Followers | None = None) -> Iterator[PullBatch]:
    at = dict(cursors)
    sent_keys: set[bytes] = set()

    def backlog() -> Iterator[PullBatch]:
        for log_id, audiences in served.items():
            after = at.get(log_id, 0)
            while True:
                with store.reading() as r:
                    head = r.head(log_id).seq
                    rows = r.raw_after(log_id, after, PULL_BATCH, audiences=audiences, upto=head)
                    certs = []
                    for _seq, body, _sig in rows:
                        key_id = decode_body(body)[0].key_id
                        if key_id not in sent_keys:
                            sent_keys.add(key_id)
                            cert = r.certificate(key_id)
                            if cert is not None:
                                certs.append(certificate_der(cert))
                full = len(rows) == PULL_BATCH
                new_after = rows[-1][0] if full else max(head, after)
                if new_after <= after and not rows:
                    break
                yield PullBatch(records=tuple(WireRecord(body=b, signature=s, seq=q)
                                              for q, b, s in rows),
                                certificates=tuple(certs), cursors={log_id: new_after})
                at[log_id] = after = new_after
                if not full:
                    break

    yield from backlog()
    if follow_s <= 0 or (followers is not None and not followers.try_enter()):
        return
    try:
        deadline = time.monotonic() + min(follow_s, MAX_FOLLOW_S)
        while alive() and time.monotonic() < deadline:
            time.sleep(FOLLOW_POLL_S)
            yield from backlog()
    finally:
        if followers is not None:
            followers.leave()
