"""The protocols of the store seam (STYLE §3, §20): what every tier reads and writes.

``Store.transaction()`` is one unit of work (a ``Transaction``), ``Store.reading()`` a read-only
snapshot (a ``Reader``). ``node.store.sql`` implements them for every tier's database,
``node.store.memory`` in dictionaries for unit tests; the receive path, the desk and the
county's actions are written against these protocols only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509

from node.kernel.chain import Keyring
from node.kernel.clock import Clock
from node.kernel.identity import Signer
from node.kernel.payloads import NodeRevoked, Payload
from node.kernel.projector import Case, Change
from node.kernel.records import LogHead, Record

__all__ = [
    "Alarm",
    "Audience",
    "CaseReader",
    "CaseWriter",
    "Reader",
    "Revocation",
    "Store",
    "Transaction",
    "VillageBeat",
]

Audience = Callable[[Record], str | None]


@dataclass(frozen=True, kw_only=True)
class Revocation:
    node_id: str
    from_seq: int
    reason: str
    operator: str
    revoked_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class VillageBeat:
    """A village's latest signed heartbeat as its township holds it (issue 12)."""

    node_id: str
    body: bytes
    signature: bytes
    received_at: dt.datetime  # the township's clock
    relayed: bool


@dataclass(frozen=True, kw_only=True)
class Alarm:
    id: int
    kind: str
    node_id: str
    peer: str
    log_id: str
    seq: int
    message: str
    raised_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str
    resolution: str


class CaseReader(Protocol):
    def get(self, case_id: str) -> Case | None: ...

    def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]: ...

    def of_applicant(self, applicant_id: str) -> list[Case]:
        """The cases of one resident id, oldest first."""
        ...

    def list(self, *, state: str | None = None) -> list[Case]: ...


    def count(self) -> int: ...


class CaseWriter(CaseReader, Protocol):
    def apply(self, changes: Sequence[Change], *, via: str = "") -> None:
        """Write the cases as the projector left them (new ones inserted, changed fields
        updated), with the county's pauses, opinions and trail lines; ``via`` says how the
        operator of those lines was authenticated (console, token, local-admin)."""
        ...

    def mark_received(self, upto_seq: int, now: dt.datetime) -> int:
        """The node's own cases whose records the upstream committed are received (workflow
        rule 2); how many moved."""
        ...

    def flag(self, case_id: str, flags: Sequence[str]) -> None: ...


class Reader(Protocol):
    now: dt.datetime  # the store's clock when the snapshot was taken

    @property
    def cases(self) -> CaseReader: ...

    def head(self, log_id: str) -> LogHead: ...

    def hash_at(self, log_id: str, seq: int) -> bytes | None: ...

    def latest(self, log_id: str) -> Record | None: ...

    def raw_after(self, log_id: str, after_seq: int, limit: int, *,
                  audiences: Sequence[str] | None = None,
                  upto: int | None = None) -> list[tuple[int, bytes, bytes]]: ...

    def iter_log(self, log_id: str, *,
                 batch: int = 1000) -> Iterator[tuple[int, bytes, bytes, bytes, int]]: ...

    def case_history(self, case_id: str) -> list[Record]: ...

    def stored_at(self, log_id: str, seq: int) -> dt.datetime | None: ...

    def certificate(self, key_id: bytes) -> x509.Certificate | None: ...

    def keyring(self) -> Keyring: ...

    def certificates_of(self, node_id: str) -> list[bytes]: ...

    def all_certificates(self) -> list[x509.Certificate]: ...

    def revoked_from(self, node_id: str) -> int | None: ...

    def revocation(self, node_id: str) -> Revocation | None: ...

    def open_alarms(self, *, node_id: str | None = None, kind: str | None = None,
                    include_resolved: bool = False) -> list[Alarm]: ...

    def refusal_counts(self) -> dict[str, int]: ...

    def recent_evidence(self, limit: int = 20) -> list[dict[str, object]]: ...

    def all_log_ids(self) -> list[str]: ...

    def claimed(self, log_id: str, hashes: Sequence[bytes]) -> set[bytes]: ...

    def mark(self, name: str) -> int: ...

    def mark_note(self, name: str) -> str:
        """The line of text a mark carries ("" if none)."""
        ...

    def village_beats(self) -> list[VillageBeat]:
        """A township's villages' latest heartbeats, by node id."""
        ...

    def cursors(self) -> dict[str, int]: ...


class Transaction(Reader, Protocol):
    @property
    def cases(self) -> CaseWriter: ...

    def lock_head(self, log_id: str) -> LogHead:
        """The log's head, held against other writers until the transaction ends."""
        ...

    def seal_append(self, payload: Payload, *, log_id: str, signer: Signer, clock: Clock,
                    audience: str | None = None, of_case: bool = True) -> Record:
        """Sign ``payload`` as the next record of this tier's own log ``log_id`` and store it:
        the one way a tier writes a record of its own (``of_case=False``: it names a case but
        is not part of that case's history, e.g. the refusal of another node's record about
        it)."""
        ...

    def append(self, records: Sequence[Record], *, audience: Audience | None = None,
               advance_head: bool = True, unlinked: Collection[int] = ()) -> None:
        """Store records received from another log's writer, as they were signed; the seqs
        in ``unlinked`` stand in their log without effect and are not part of any case's
        history."""
        ...

    def set_head(self, log_id: str, head: LogHead) -> None: ...

    def add_certificate(self, cert: x509.Certificate) -> bytes | None: ...

    def add_revocation(self, revoked: NodeRevoked, at: dt.datetime) -> None: ...

    def keep_evidence(self, *, log_id: str, seq: int, body: bytes, signature: bytes,
                      reason_code: str, message: str, peer: str) -> bool: ...

    def raise_alarm(self, *, kind: str, node_id: str, peer: str, log_id: str, seq: int,
                    message: str) -> int: ...

    def resolve_alarm(self, alarm_id: int, *, operator: str, note: str) -> bool: ...

    def claim(self, log_id: str, hashes: Sequence[bytes]) -> None: ...

    def add_trail(self, *, kind: str, case_id: str = "", node_id: str = "",
                  operator: str = "", detail: str = "", record: Record | None = None,
                  via: str = "") -> None:
        ...

    def set_mark(self, name: str, value: int, note: str | None = None) -> None: ...

    def keep_village_beat(self, node_id: str, body: bytes, signature: bytes) -> None:
        """A village's heartbeat, checked, received now: the one to relay next."""
        ...

    def village_beat_relayed(self, node_id: str, body: bytes) -> None:
        """The county has that heartbeat (unless a newer one came meanwhile)."""
        ...

    def set_cursors(self, cursors: Mapping[str, int]) -> None: ...

    def next_daily_number(self, day: dt.date) -> int: ...

    def note_daily_number(self, day: dt.date, number: int) -> None:
        """A case number of ``day`` already used (a recovered log's): the next one is higher."""
        ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def reading(self) -> AbstractContextManager[Reader]: ...
