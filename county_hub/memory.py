"""The county's store in memory, for unit tests (STYLE §17): ``node.store.memory`` with the
county's own reads and writes beside it (nodes, grants, operators, opinions), so that the
county's tier (``county_hub.tier``) and its operator actions run on it unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from county_hub.store import GrantRow, NodeRow, OperatorRow
from node.kernel.clock import Clock
from node.store.memory import MemoryReader, MemoryStore, MemoryTransaction, _State

__all__ = ["MemoryHubStore", "MemoryHubTransaction"]


@dataclass
class _County:
    nodes: dict[str, NodeRow] = field(default_factory=dict)
    grants: list[GrantRow] = field(default_factory=list)
    operators: dict[str, OperatorRow] = field(default_factory=dict)


class MemoryHubReader(MemoryReader):
    def __init__(self, state: _State, county: _County, now: dt.datetime) -> None:
        super().__init__(state, now)
        self.county = county

    def node(self, node_id: str) -> NodeRow | None:
        return self.county.nodes.get(node_id)

    def list_nodes(self) -> list[NodeRow]:
        return [self.county.nodes[n] for n in sorted(self.county.nodes)]

    def grants(self, township: str | None = None) -> list[GrantRow]:
        return [g for g in self.county.grants if township in (None, g.township)]

    def grant(self, record_hash: bytes) -> GrantRow | None:
        return next((g for g in self.county.grants if g.record_hash == record_hash), None)

    def operator(self, name: str) -> OperatorRow | None:
        return self.county.operators.get(name)

    def opinions_of(self, case_id: str) -> dict[str, bool]:
        return {d: o.favourable for (c, d), o in self.s.opinions.items() if c == case_id}

    def pauses_of(self, case_ids: list[str] | None = None,
                  ) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
        return {c: list(p) for c, p in self.s.pauses.items()
                if case_ids is None or c in case_ids}


class MemoryHubTransaction(MemoryTransaction, MemoryHubReader):
    def add_node(self, *, node_id: str, tier: str, name: str, parent: str,
                 tls_fingerprint: str = "") -> None:
        self.county.nodes[node_id] = NodeRow(node_id=node_id, tier=tier, name=name,
                                             parent=parent, enrolled_at=self.now,
                                             last_seen=None, tls_fingerprint=tls_fingerprint)

    def set_tls_fingerprint(self, node_id: str, tls_fingerprint: str) -> None:
        self.county.nodes[node_id] = dataclasses.replace(self.county.nodes[node_id],
                                                         tls_fingerprint=tls_fingerprint)

    def record_heartbeat(self, *, node_id: str, head_seq: int, head_hash: bytes,
                         sent_at: dt.datetime, at: dt.datetime | None = None) -> None:
        row = self.county.nodes[node_id]
        at = at or self.now
        if row.heartbeat_at is not None and row.heartbeat_at > at:
            return
        self.county.nodes[node_id] = dataclasses.replace(
            row, heartbeat_at=at, claimed_seq=head_seq,
            clock_skew_s=(sent_at - at).total_seconds())

    def touch_node(self, node_id: str) -> None:
        row = self.county.nodes[node_id]
        self.county.nodes[node_id] = dataclasses.replace(row, last_seen=self.now)

    def add_operator(self, *, name: str, department: str, role: str) -> None:
        self.county.operators[name] = OperatorRow(name=name, department=department,
                                                  role=role, active=True)

    def add_grant(self, *, township: str, record_hash: bytes, items: tuple[str, ...],
                  valid_from: dt.datetime, valid_until: dt.datetime,
                  catalog_version: int) -> None:
        self.county.grants.append(GrantRow(
            township=township, record_hash=record_hash, items=items, valid_from=valid_from,
            valid_until=valid_until, catalog_version=catalog_version, granted_at=self.now,
            ended_at=None, seen_seq_at_end=None))

    def end_grants(self, township: str, *, seen_seq: int) -> None:
        self.county.grants = [
            dataclasses.replace(g, ended_at=self.now, seen_seq_at_end=seen_seq)
            if g.township == township and g.ended_at is None else g
            for g in self.county.grants]


class MemoryHubStore(MemoryStore):
    """``county_hub.store.HubStore`` in memory."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.county = _County()

    @contextmanager
    def transaction(self) -> Iterator[MemoryHubTransaction]:
        work = self.state.copy()
        county = _County(nodes=dict(self.county.nodes), grants=list(self.county.grants),
                         operators=dict(self.county.operators))
        yield MemoryHubTransaction(work, county, self.clock.now())
        self.state, self.county = work, county

    @contextmanager
    def reading(self) -> Iterator[MemoryHubReader]:
        yield MemoryHubReader(self.state, self.county, self.clock.now())
