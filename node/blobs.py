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

__all__ = ["INCOMING", "BlobRef", "BlobStore", "check_readable"]

_CHUNK = 1 << 20
INCOMING = ".incoming-"
# what a file must start with to be what its name says (the scanners' formats)
_MAGIC = {
    ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",), ".gif": (b"GIF87a", b"GIF89a"),
    ".tif": (b"II*\x00", b"MM\x00*"), ".tiff": (b"II*\x00", b"MM\x00*"),
    ".bmp": (b"BM",), ".pdf": (b"%PDF-",), ".webp": (b"RIFF",),
}


def check_readable(source: Path, head: bytes, tail: bytes) -> None:
    """A scan is what its name says it is: an image or PDF starting as its format starts, a
    PDF ending as a PDF ends. Files of other kinds are taken as they are."""
    suffix = source.suffix.lower()
    starts = _MAGIC.get(suffix)
    if starts is not None and not head.startswith(starts):
        raise UsageError(f"file {source} is not a readable {suffix[1:].upper()} file (it does "
                         "not start as one): scan the material again", code="unreadable_file")
    if suffix == ".pdf" and b"%%EOF" not in tail:
        raise UsageError(f"file {source} is a PDF cut short (no end marker): scan or save it "
                         "again", code="unreadable_file")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        """Copy ``source`` in. Refused before anything is kept (issue 12): a file that is not
        there, empty (a scanner that failed), over ``max_bytes``, not what its name says (a
        ``.jpg`` that is no JPEG, a PDF cut short), or that changes while it is read (a
        scanner still writing it). A failure half way (a full disk) leaves no partial file."""
        try:
            before = source.stat()
        except FileNotFoundError as exc:
            raise UsageError(f"file {source} does not exist", code="no_such_file") from exc
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}", code="no_such_file") from exc
        if not source.is_file():
            raise UsageError(f"{source} is not a file", code="no_such_file")
        if before.st_size == 0:
            raise UsageError(f"file {source} is empty (0 bytes): the scan failed -- scan the "
                             "material again", code="empty_file")
        if before.st_size > max_bytes:
            raise UsageError(
                f"file {source} is {before.st_size} bytes; the limit per file is {max_bytes} "
                "bytes -- scan at a lower resolution", code="file_too_large")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        tmp = self.root / f"{INCOMING}{os.getpid()}-{source.name}"
        head = tail = b""
        try:
            with source.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(_CHUNK):
                    head = head or chunk[:16]
                    tail = (tail + chunk)[-1024:]
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            after = source.stat()
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or \
                    tmp.stat().st_size != before.st_size:
                raise UsageError(f"file {source} changed while it was read (is the scanner "
                                 "still writing it?): wait a moment and give it again",
                                 code="file_changed")
            check_readable(source, head, tail)
            ref = BlobRef(sha256=digest.digest(), size=before.st_size)
            final = self.path(ref.sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            if not final.exists():
                tmp.replace(final)
            return ref
        finally:
            tmp.unlink(missing_ok=True)

    def sweep(self) -> int:
        """Remove what interrupted intakes left (``.incoming-*`` of processes no longer
        running); how many files went."""
        gone = 0
        if not self.root.exists():
            return 0
        for leftover in self.root.glob(f"{INCOMING}*"):
            pid = leftover.name.removeprefix(INCOMING).partition("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                continue
            leftover.unlink(missing_ok=True)
            gone += 1
        return gone

    def open(self, sha256: bytes) -> Path:
        path = self.path(sha256)
        if not path.exists():
            raise NotFoundError(f"no stored file with sha256 {sha256.hex()}")
        return path

    def has(self, sha256: bytes) -> bool:
        return self.path(sha256).exists()

    def size(self, sha256: bytes) -> int:
        return self.open(sha256).stat().st_size

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
