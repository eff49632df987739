"""Attachments as content-addressed blobs (DESIGN §3): a scan is stored under its sha256, and
the record names that hash, so the record's signature covers the file too.

Files are written to a temporary name, flushed to disk and renamed, so a blob either exists
whole or not at all; the same file stored twice is kept once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from node.errors import NotFoundError, UsageError

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
