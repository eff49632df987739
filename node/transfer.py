"""Receiving attachments in chunks (DESIGN §8), for every tier that accepts uploads, with the
claims that say which log may name which file (DESIGN §4, authority rule 9).

The bytes go to a sink (files at a township, the database at the county) that says where each
blob stands and appends a chunk at exactly that offset; the last chunk makes the sink check the
sha256. Chunks at any other offset are refused, so the sender asks again where to resume;
nothing is written twice and nothing is skipped.

A blob is stored once, but named only by the logs it was uploaded for. A log that wants to name
a file the receiver already holds for another log is told the file is not held, and uploads it
again whole: the bytes are hashed as they pass and not stored twice, and the claim is recorded
once they match -- proof that the uploader holds the file, not only its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from node.kernel.errors import UsageError, VerificationError
from node.store.seam import Store
from sync import BlobChunk, BlobState

__all__ = ["BlobSink", "Uploads"]


class BlobSink(Protocol):
    def state(self, sha256: bytes) -> BlobState: ...

    def append(self, chunk: BlobChunk) -> BlobState: ...


class Uploads:
    """Attachments arriving from downstream nodes, and the claims of the logs they are for."""

    def __init__(self, sink: BlobSink, store: Store, *, max_blob_bytes: int) -> None:
        self.sink = sink
        self.store = store
        self.max_blob_bytes = max_blob_bytes

    def status(self, hashes: Sequence[bytes], log_id: str) -> list[BlobState]:
        """What the uploader for ``log_id`` is told: a blob held for other logs only is
        reported as not held (``received`` 0), so that it is sent again whole."""
        with self.store.reading() as r:
            claimed = r.claimed(log_id, hashes)
        out = []
        for sha256 in hashes:
            state = self.sink.state(sha256)
            if state.complete and sha256 not in claimed:
                state = BlobState(sha256=sha256, size=state.size)
            out.append(state)
        return out

    def receive(self, chunks: Iterable[BlobChunk], *,
                log_of: Callable[[BlobChunk], str]) -> list[BlobState]:
        """Take a stream of chunks; ``log_of`` says (or refuses to say) for whose log."""
        touched: dict[bytes, BlobState] = {}
        proving: dict[bytes, tuple[int, hashlib._Hash]] = {}
        for chunk in chunks:
            self._check(chunk)
            log_id = log_of(chunk)
            state = self.sink.state(chunk.sha256)
            if state.complete:
                touched[chunk.sha256] = self._prove(chunk, log_id, state, proving)
                continue
            name = chunk.sha256.hex()[:16]
            if state.size and state.size != chunk.size:
                raise UsageError(f"attachment {name}: size {chunk.size} differs from the "
                                 f"{state.size} announced before", code="bad_chunk")
            if chunk.offset != state.received:
                raise UsageError(f"chunk of {name} starts at {chunk.offset}, but "
                                 f"{state.received} bytes are held: ask for the blob's state "
                                 "and resume from there", code="bad_offset")
            after = self.sink.append(chunk)
            if after.complete:
                self._claim(log_id, chunk.sha256)
            touched[chunk.sha256] = after
        return list(touched.values())

    def _check(self, chunk: BlobChunk) -> None:
        name = chunk.sha256.hex()[:16]
        if len(chunk.sha256) != 32:
            raise UsageError("a chunk names a blob that is not a sha256", code="bad_chunk")
        if not 0 < chunk.size <= self.max_blob_bytes:
            raise UsageError(f"attachment {name} is {chunk.size} bytes; this upstream takes "
                             f"at most {self.max_blob_bytes}", code="blob_too_large")
        if not chunk.data or chunk.offset + len(chunk.data) > chunk.size:
            raise UsageError(f"chunk of {name} at {chunk.offset} runs past its size",
                             code="bad_chunk")

    def _prove(self, chunk: BlobChunk, log_id: str, state: BlobState,
               proving: dict[bytes, tuple[int, hashlib._Hash]]) -> BlobState:
        """A blob held already: claimed for ``log_id``, or being proven by this stream."""
        with self.store.reading() as r:
            if r.claimed(log_id, [chunk.sha256]):
                return state
        at, digest = proving.get(chunk.sha256, (0, hashlib.sha256()))
        if chunk.offset != at or chunk.size != state.size:
            raise UsageError(f"attachment {chunk.sha256.hex()[:16]} is held for another log: "
                             "send it whole from offset 0 to name it", code="bad_offset")
        digest.update(chunk.data)
        at += len(chunk.data)
        if at < state.size:
            proving[chunk.sha256] = (at, digest)
            return BlobState(sha256=chunk.sha256, size=state.size, received=at)
        proving.pop(chunk.sha256, None)
        if digest.digest() != chunk.sha256:
            raise VerificationError(f"attachment {chunk.sha256.hex()[:16]}: the bytes sent do "
                                    "not match their sha256; send it again", code="bad_blob")
        self._claim(log_id, chunk.sha256)
        return state

    def _claim(self, log_id: str, sha256: bytes) -> None:
        with self.store.transaction() as tx:
            tx.claim(log_id, [sha256])
