"""Attachments at the hub, in the database (DESIGN §8, §9): the hub keeps no state outside it,
so any hub process behind the load balancer can take the next chunk of an upload.

Each chunk is its own transaction, with the blob's row locked, so two processes receiving the
same blob cannot interleave; the last chunk triggers the sha256 check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from sqlalchemy import insert, select, update

from county_hub.schema import HubBlob, HubBlobChunk
from node.kernel.clock import Clock, to_ms
from node.kernel.errors import NotFoundError, UsageError, VerificationError
from node.store.db import Database
from node.store.schema import table_of
from sync import BlobChunk, BlobState

__all__ = ["DbBlobStore"]


class DbBlobStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.blobs = table_of(HubBlob)
        self.chunks_table = table_of(HubBlobChunk)

    def state(self, sha256: bytes) -> BlobState:
        with self.db.read() as conn:
            row = conn.execute(select(self.blobs).where(self.blobs.c.sha256 == sha256)).first()
        if row is None:
            return BlobState(sha256=sha256)
        return BlobState(sha256=sha256, size=row.size, received=row.received,
                         complete=bool(row.complete))

    def complete(self, hashes: list[bytes]) -> set[bytes]:
        """Which of these blobs the hub holds whole."""
        if not hashes:
            return set()
        with self.db.read() as conn:
            rows = conn.execute(select(self.blobs.c.sha256).where(
                self.blobs.c.sha256.in_(hashes), self.blobs.c.complete.is_(True)))
            return {bytes(r[0]) for r in rows}

    def append(self, chunk: BlobChunk) -> BlobState:
        t, c = self.blobs, self.chunks_table
        with self.db.write() as conn:
            row = conn.execute(select(t).where(t.c.sha256 == chunk.sha256).with_for_update()
                               ).first()
            if row is None:
                conn.execute(insert(t).values(sha256=chunk.sha256, size=chunk.size, received=0,
                                              complete=False,
                                              created_at_ms=to_ms(self.clock.now())))
                received = 0
            else:
                received = row.received
            if row is not None and row.complete:
                return BlobState(sha256=chunk.sha256, size=row.size, received=row.size,
                                 complete=True)
            if chunk.offset != received:
                raise UsageError(f"chunk of {chunk.sha256.hex()[:16]} starts at {chunk.offset}, "
                                 f"but {received} bytes are held", code="bad_offset")
            conn.execute(insert(c).values(sha256=chunk.sha256, offset=chunk.offset,
                                          data=chunk.data))
            received += len(chunk.data)
            done = received >= chunk.size
            if done and not self._verify(conn, chunk.sha256):
                conn.execute(c.delete().where(c.c.sha256 == chunk.sha256))
                conn.execute(t.delete().where(t.c.sha256 == chunk.sha256))
                bad = VerificationError(f"attachment {chunk.sha256.hex()[:16]}: the bytes "
                                        "received do not match their sha256; send it again",
                                        code="bad_blob")
            else:
                bad = None
                conn.execute(update(t).where(t.c.sha256 == chunk.sha256)
                             .values(received=received, complete=done))
        if bad is not None:
            raise bad
        return BlobState(sha256=chunk.sha256, size=chunk.size, received=received, complete=done)

    def _verify(self, conn: object, sha256: bytes) -> bool:
        digest = hashlib.sha256()
        for data in self._data(conn, sha256):
            digest.update(data)
        return digest.digest() == sha256

    def _data(self, conn: object, sha256: bytes) -> Iterator[bytes]:
        c = self.chunks_table
        offset = -1
        while True:
            rows = conn.execute(  # type: ignore[attr-defined]
                select(c.c.offset, c.c.data).where(c.c.sha256 == sha256, c.c.offset > offset)
                .order_by(c.c.offset).limit(16)).all()
            if not rows:
                return
            for row in rows:
                yield bytes(row.data)
            offset = rows[-1].offset

    def read_all(self, sha256: bytes) -> Iterator[bytes]:
        """The bytes of a complete blob, chunk by chunk."""
        if not self.state(sha256).complete:
            raise NotFoundError(f"the hub holds no complete attachment {sha256.hex()}")
        with self.db.read() as conn:
            yield from self._data(conn, sha256)
