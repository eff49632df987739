"""Receiving attachments in chunks (DESIGN §8), for every tier that accepts uploads.

A sink says where each blob stands and appends a chunk at exactly that offset; the last chunk
of a blob makes the sink check its sha256. Chunks at any other offset are refused, so the
sender asks again where to resume; nothing is written twice and nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from node.kernel.errors import UsageError
from sync import BlobChunk, BlobState

__all__ = ["BlobSink", "receive_chunks"]


class BlobSink(Protocol):
    def state(self, sha256: bytes) -> BlobState: ...

    def append(self, chunk: BlobChunk) -> BlobState: ...


def receive_chunks(sink: BlobSink, chunks: Iterable[BlobChunk], *,
                   max_blob_bytes: int) -> list[BlobState]:
    touched: dict[bytes, BlobState] = {}
    for chunk in chunks:
        name = chunk.sha256.hex()[:16]
        if len(chunk.sha256) != 32:
            raise UsageError("a chunk names a blob that is not a sha256", code="bad_chunk")
        if not 0 < chunk.size <= max_blob_bytes:
            raise UsageError(f"attachment {name} is {chunk.size} bytes; this upstream takes "
                             f"at most {max_blob_bytes}", code="blob_too_large")
        if not chunk.data or chunk.offset + len(chunk.data) > chunk.size:
            raise UsageError(f"chunk of {name} at {chunk.offset} runs past its size",
                             code="bad_chunk")
        state = sink.state(chunk.sha256)
        if state.complete:
            touched[chunk.sha256] = state
            continue
        if state.size and state.size != chunk.size:
            raise UsageError(f"attachment {name}: size {chunk.size} differs from the "
                             f"{state.size} announced before", code="bad_chunk")
        if chunk.offset != state.received:
            raise UsageError(f"chunk of {name} starts at {chunk.offset}, but {state.received} "
                             "bytes are held: ask for the blob's state and resume from there",
                             code="bad_offset")
        touched[chunk.sha256] = sink.append(chunk)
    return list(touched.values())
