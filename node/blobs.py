"""Attachments as content-addressed blobs (DESIGN §3): a scan is stored under its sha256, and
the record names that hash, so the record's signature covers the file too.

Whole files are written to a temporary name, flushed to disk and renamed, so a blob either
exists whole or not at all; the same file stored twice is kept once. Blobs arriving from a
downstream node come in chunks (``append``): they grow in ``.partial/`` and are checked against
their hash before they count as complete, so an interrupted upload resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from node.kernel.errors import NotFoundError, UsageError, VerificationError
from sync import BlobChunk, BlobState

__all__ = ["BlobRef", "BlobStore"]

_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class BlobRef:
    sha256: bytes
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: bytes) -> Path:
        h = sha256.hex()
        return self.root / h[:2] / h

    def put_file(self, source: Path, *, max_bytes: int) -> BlobRef:
        """Copy ``source`` in; refuse files over ``max_bytes`` before storing anything."""
        try:
            size = source.stat().st_size
        except FileNotFoundError as exc:
            raise UsageError(f"file {source} does not exist", code="no_such_file") from exc
        if not source.is_file():
            raise UsageError(f"{source} is not a file", code="no_such_file")
        if size > max_bytes:
            raise UsageError(
                f"file {source} is {size} bytes; the limit per file is {max_bytes} bytes -- "
                "scan at a lower resolution",
                code="file_too_large",
            )
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        tmp = self.root / f".incoming-{os.getpid()}-{source.name}"
        with source.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        ref = BlobRef(sha256=digest.digest(), size=size)
        final = self.path(ref.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink()
        else:
            tmp.replace(final)
        return ref

    def open(self, sha256: bytes) -> Path:
        path = self.path(sha256)
        if not path.exists():
            raise NotFoundError(f"no stored file with sha256 {sha256.hex()}")
        return path

    def has(self, sha256: bytes) -> bool:
        return self.path(sha256).exists()

    def read(self, sha256: bytes, offset: int, length: int) -> bytes:
        with self.open(sha256).open("rb") as f:
            f.seek(offset)
            return f.read(length)

    def chunks(self, sha256: bytes, plan: Iterator[tuple[int, int]], *,
               log_id: str = "") -> Iterator[BlobChunk]:
        """The chunks of a stored blob named by ``plan``, read lazily (bounded memory), for
        ``log_id``'s records ("": the sender's own)."""
        path = self.open(sha256)
        size = path.stat().st_size
        with path.open("rb") as f:
            for offset, length in plan:
                f.seek(offset)
                yield BlobChunk(sha256=sha256, size=size, offset=offset, data=f.read(length),
                                log_id=log_id)

    # -- receiving chunks from a downstream node ------------------------------------------------

    def _partial(self, sha256: bytes) -> Path | None:
        folder = self.root / ".partial"
        found = sorted(folder.glob(f"{sha256.hex()}.*")) if folder.exists() else []
        return found[0] if found else None

    def state(self, sha256: bytes) -> BlobState:
        final = self.path(sha256)
        if final.exists():
            size = final.stat().st_size
            return BlobState(sha256=sha256, size=size, received=size, complete=True)
        partial = self._partial(sha256)
        if partial is None:
            return BlobState(sha256=sha256)
        return BlobState(sha256=sha256, size=int(partial.suffix[1:]),
                         received=partial.stat().st_size)

    def append(self, chunk: BlobChunk) -> BlobState:
        """Add a chunk at the offset ``state`` reported; on the last byte, check the hash."""
        partial = self._partial(chunk.sha256)
        if partial is None:
            partial = self.root / ".partial" / f"{chunk.sha256.hex()}.{chunk.size}"
            partial.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("ab") as f:
            f.write(chunk.data)
            f.flush()
            os.fsync(f.fileno())
        received = partial.stat().st_size
        if received < chunk.size:
            return BlobState(sha256=chunk.sha256, size=chunk.size, received=received)
        digest = hashlib.sha256()
        with partial.open("rb") as f:
            while block := f.read(_CHUNK):
                digest.update(block)
        if digest.digest() != chunk.sha256:
            partial.unlink()
            raise VerificationError(f"attachment {chunk.sha256.hex()[:16]}: the bytes received "
                                    "do not match their sha256; send it again",
                                    code="bad_blob")
        final = self.path(chunk.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial.replace(final)
        return BlobState(sha256=chunk.sha256, size=chunk.size, received=chunk.size,
                         complete=True)
