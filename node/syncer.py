"""The node's sync driver (DESIGN §8): one round with the upstream.

1. Hello: an empty push carrying the node's signed heartbeat; the reply says what the upstream
   has committed of this node's log, so a lost ack is recovered without resending, and a node
   restored from an old backup stops before it forks its own log.
2. Push: the unsynced part of the log, read from the database a slice at a time and sent in
   batches bounded in records and bytes. Before a batch, the attachments its records name are
   uploaded in chunks, resuming where the upstream stopped (the upstream will not take a case
   whose attachments have not all arrived). The synced mark moves only to what the upstream
   acknowledges as committed.
3. Pull: a server stream of batches, each verified and applied together with its cursors.

Every call is bounded by the retry policy; a cut anywhere loses nothing, and the next round
resumes from the saved marks. Between batches the driver checks ``should_stop``, so a daemon
told to stop leaves at a batch boundary.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from node.errmap import from_sync_error
from node.kernel.errors import BianminError, ConfigError, PeerError
from node.kernel.payloads import referenced_blobs
from node.kernel.records import parse_record
from node.recovery import (
    CATCHING_UP,
    REBUILD,
    catch_up,
    finish_key_replacement,
    rebuild_cases,
    rebuild_pending,
)
from node.store.sql import PUSHED
from sync import (
    BlobState,
    RetryPolicy,
    SyncError,
    WireRecord,
    batches,
    chunk_plan,
    next_push_mark,
)
from sync.client import UpstreamClient

if TYPE_CHECKING:
    from node.service import NodeService

__all__ = ["LAST_ATTEMPT", "LAST_FAILURE", "LAST_SUCCESS", "Progress", "Stopped", "SyncReport",
           "Syncer", "failure_code"]

PUSH_READ_LIMIT = 2_000  # records read from the database at a time while pushing
STATUS_BATCH = 1_000
BLOB_STREAM_BYTES = 4 * 1024 * 1024  # attachments sent in one PutBlob stream, at most
LAST_ATTEMPT = "last_attempt_ms"
LAST_SUCCESS = "last_success_ms"
LAST_FAILURE = "last_failure_ms"  # with why, as a note


def failure_code(note: str) -> str:
    """The error code at the end of a ``LAST_FAILURE`` note ("" if none)."""
    return note.rsplit("[", 1)[-1].rstrip("]") if note.endswith("]") and "[" in note else ""


class Stopped(BianminError):
    code = "stopped"


class Progress(Protocol):
    def update(self, *, records: int, records_total: int, bytes_sent: int,
               bytes_total: int) -> None: ...


@dataclass(kw_only=True)
class SyncReport:
    pushed: int = 0
    pulled: int = 0
    decisions: int = 0
    catalog_version: int = 0
    received: int = 0
    revocations: int = 0
    keys_replaced: bool = False  # this round wrote the node's KeyReplaced (node recover --token)
    requests: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    refused: list[str] = field(default_factory=list)
    lost_scans: list[str] = field(default_factory=list)  # named, but not at this desk
    # taken into the upstream's copy of the log, but without effect (an authority rule's
    # refusal: the signed ActionRefused follows in the pull)
    no_effect: list[str] = field(default_factory=list)
    recovered: int = 0  # own records fetched back from the upstream (node.recovery)
    not_reprojected: list[str] = field(default_factory=list)  # of those, still without effect


class Syncer:
    def __init__(self, service: NodeService, client: UpstreamClient, policy: RetryPolicy, *,
                 progress: Progress | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.service = service
        self.store = service.store
        self.client = client
        self.policy = policy
        self.progress = progress
        self.should_stop = should_stop
        self.report = SyncReport()
        self._records_total = 0
        self._bytes_total = 0
        self._bytes_sent = 0  # records and scans

    def run(self) -> SyncReport:
        try:
            return self._round()
        except Stopped:
            raise
        except BianminError as exc:
            self._note_failure(exc)
            raise

    def _note_failure(self, exc: BianminError) -> None:
        """Why this round failed, for ``node status`` and the desk; best effort: the failure
        may be the database itself (a full disk)."""
        why = f"{str(exc)[:480]} [{exc.code}]"  # the code last, whole (``failure_code``)
        with contextlib.suppress(Exception), self.store.transaction() as tx:
            tx.set_mark(LAST_FAILURE, _ms(self.service), note=why)

    def _round(self) -> SyncReport:
        with self.store.transaction() as tx:
            tx.set_mark(LAST_ATTEMPT, _ms(self.service))
        refused: PeerError | None = None
        try:
            self._hello()
            try:
                self._push()
            except PeerError as exc:  # a refused record must not keep the county's news away
                refused = exc
            self._pull()
            if rebuild_pending(self.service):
                self.report.not_reprojected = rebuild_cases(self.service)
        except SyncError as exc:
            raise from_sync_error(exc) from exc
        if refused is not None:
            raise refused
        with self.store.transaction() as tx:
            tx.set_mark(LAST_SUCCESS, _ms(self.service))
        return self.report

    def _check_stop(self) -> None:
        if self.should_stop():
            raise Stopped("stopped between batches")

    def _tell(self) -> None:
        if self.progress is not None:
            self.progress.update(records=self.report.pushed,
                                 records_total=max(self._records_total, self.report.pushed),
                                 bytes_sent=self._bytes_sent,
                                 bytes_total=max(self._bytes_total, self._bytes_sent))

    # -- 1. hello -------------------------------------------------------------------------------

    def _hello(self) -> None:
        node_id = self.service.config.node_id
        beat = self.service.heartbeat()
        with self.store.reading() as r:
            certificates = r.certificates_of(node_id)
        hello = self.policy.run(functools.partial(self.client.push, node_id, [], beat,
                                                  certificates))
        with self.store.reading() as r:
            head = r.head(node_id)
        if hello.committed_seq > head.seq:
            # this database is older than what the node already sent (restored from an old
            # backup, or recovered empty): fetch the rest of the log back (node.recovery)
            self.report.recovered = self.policy.run(functools.partial(
                catch_up, self.service, self.client, upto=hello.committed_seq))
        # a node re-enrolled under new keys continues its log where the county said (issue 12)
        if finish_key_replacement(self.service) is not None:
            self.report.keys_replaced = True
        with self.store.transaction() as tx:
            head = tx.head(node_id)
            if hello.committed_seq > head.seq:  # pragma: no cover -- catch_up raised
                raise ConfigError(f"this node's log ends at {head.seq}, behind the "
                                  f"upstream's {hello.committed_seq}",
                                  code="log_behind_upstream")
            if not tx.mark(REBUILD):
                tx.set_mark(CATCHING_UP, 0)
            tx.set_mark(PUSHED, hello.committed_seq)
            self.report.received += tx.cases.mark_received(hello.committed_seq, tx.now)
        with self.store.reading() as r:  # the real totals, from the start (issue 12)
            waiting = self.service.unsynced(r, hello.committed_seq)
        self._records_total = waiting.records
        self._bytes_total = waiting.total_bytes
        self._tell()

    # -- 2. push --------------------------------------------------------------------------------

    def _push(self) -> None:
        self.push_log(self.service.config.node_id, PUSHED)

    def relay(self, log_id: str) -> int:
        """Forward another node's log verbatim (a township relaying its village's records);
        returns how many records the upstream now holds that it did not before."""
        before = self.report.pushed
        self._relay_beat(log_id)  # first, as a node's own hello: its clock is known for its cases
        self.push_log(log_id, f"relayed:{log_id}", relay=True)
        return self.report.pushed - before

    def _relay_beat(self, log_id: str) -> None:
        """The village's latest heartbeat, with when it came here: so the
        county sees the village's silence, gaps and clock wherever it sits (issue 12)."""
        with self.store.reading() as r:
            beat = next((b for b in r.village_beats() if b.node_id == log_id), None)
        if beat is None or beat.relayed:
            return
        self.policy.run(functools.partial(
            self.client.push, log_id, [], WireRecord(
                body=beat.body, signature=beat.signature,
                received_at_ms=int(beat.received_at.timestamp() * 1000))))
        with self.store.transaction() as tx:
            tx.village_beat_relayed(log_id, beat.body)

    def push_log(self, log_id: str, mark_name: str, *, relay: bool = False) -> None:
        while True:
            with self.store.reading() as r:
                pushed = r.mark(mark_name)
                rows = r.raw_after(log_id, pushed, PUSH_READ_LIMIT)
            if not rows:
                return
            for batch in batches(WireRecord(body=b, signature=s, seq=q) for q, b, s in rows):
                self._check_stop()
                self._push_batch(log_id, batch, mark_name, relay=relay)

    def _push_batch(self, log_id: str, batch: list[WireRecord], mark_name: str, *,
                    relay: bool) -> None:
        node_id = log_id
        for_log = log_id if relay else ""
        self._upload(batch, for_log)
        result = self.policy.run(functools.partial(self.client.push, log_id, batch))
        if relay:  # the upstream may already hold more of a relayed log (the village's own
            # direct sync through its fallback): what it holds is what counts
            mark = min(result.committed_seq, batch[-1].seq)
        else:
            mark = next_push_mark(batch, result.committed_seq)
        with self.store.transaction() as tx:
            tx.set_mark(mark_name, mark)
            if not relay:
                self.report.received += tx.cases.mark_received(mark, tx.now)
        self.report.pushed += sum(1 for o in result.outcomes if o.status != "refused")
        self._bytes_sent += sum(len(r.body) + len(r.signature) for r in batch)
        self.report.no_effect.extend(f"{node_id}#{o.seq}: {o.message} [{o.reason_code}]"
                                     for o in result.outcomes
                                     if o.status == "accepted" and o.reason_code)
        self._tell()
        if result.refused:
            self.report.refused.extend(f"{node_id}#{o.seq}: {o.message}"
                                       for o in result.refused)
            first = result.refused[0]
            raise PeerError(f"upstream refused {len(result.refused)} record(s) of this node's "
                            f"log: {first.message}", code=first.reason_code or "refused")
        if mark < batch[-1].seq:
            # the hello put the mark where the upstream stands; an upstream that now commits
            # less than it was sent, refusing nothing, is not making sense
            raise PeerError(f"upstream acknowledged seq {mark} after being sent records up to "
                            f"{batch[-1].seq} and refusing none; try again later",
                            code="no_progress")

    def _upload(self, batch: Sequence[WireRecord], for_log: str) -> None:
        """Upload the attachments these records name that the upstream lacks for their log
        (``for_log``: a relayed village's, or "" for this node's own), resuming."""
        wanted = list(dict.fromkeys(h for r in batch
                                    for h in referenced_blobs(parse_record(r.body, r.signature))))
        blobs = self.service.blobs
        for start in range(0, len(wanted), STATUS_BATCH):
            group = wanted[start:start + STATUS_BATCH]
            states = self.policy.run(functools.partial(self.client.blob_status, group,
                                                       log_id=for_log))
            sending: list[tuple[BlobState, int]] = []
            for state in states:
                held = blobs.has(state.sha256)
                size = blobs.size(state.sha256) if held else 0
                if not for_log:  # the totals counted this desk's scans whole: less what is up
                    self._bytes_total -= size if state.complete else min(state.received, size)
                elif not state.complete:  # a relayed village's scans come on top
                    self._bytes_total += size - state.received
                if state.complete:
                    continue
                if not held or size == 0:
                    # lost at this desk (or an empty scan of an old release): the records go
                    # up all the same, and the county asks for the scan again (scan_missing)
                    self.report.lost_scans.append(state.sha256.hex())
                    continue
                sending.append((state, size))
            for part in _by_bytes(sending, BLOB_STREAM_BYTES):
                known = {state.sha256: state for state, _size in part}
                self.policy.run(functools.partial(
                    self._send_blobs, [(st.sha256, size) for st, size in part], for_log, known))
                self._check_stop()

    def _send_blobs(self, blobs: list[tuple[bytes, int]], for_log: str,
                    known: dict[bytes, BlobState]) -> None:
        """Several attachments in one stream: on a link with a long round trip, one stream
        per scan would cost more in waiting than in sending. The first attempt starts from
        the states just asked for; a retry asks again and resumes from what arrived."""
        if known:
            states = dict(known)
            known.clear()  # a retry asks again
        else:
            states = {s.sha256: s for s in self.client.blob_status([h for h, _ in blobs],
                                                                   log_id=for_log)}
        todo = [(sha, size, states[sha].received) for sha, size in blobs
                if sha in states and not states[sha].complete]
        if not todo:
            return
        remaining = sum(size - received for _sha, size, received in todo)
        timeout = 30.0 + remaining / 20_000  # 20 kB/s: a poor village uplink
        chunks = itertools.chain.from_iterable(
            self.service.blobs.chunks(sha, chunk_plan(size, received), log_id=for_log)
            for sha, size, received in todo)
        self.client.put_blob(chunks, timeout_s=timeout)
        self.report.blobs += len(todo)
        self.report.blob_bytes += remaining
        self._bytes_sent += remaining
        self._tell()

    # -- 3. pull --------------------------------------------------------------------------------

    def _pull(self) -> None:
        config = self.service.config

        def once() -> None:
            with self.store.reading() as r:
                cursors = r.cursors()
            for log_id in config.followed_logs:
                cursors.setdefault(log_id, 0)
            cursors = {k: v for k, v in cursors.items() if k in config.followed_logs}
            for batch in self.client.pull(cursors):
                self.service.apply_pull_batch(batch, self.report)
                self._check_stop()

        self.policy.run(once)


def _by_bytes(items: list[tuple[BlobState, int]],
              limit: int) -> Iterator[list[tuple[BlobState, int]]]:
    """``items`` in runs of at most ``limit`` bytes still to send (a bigger one alone)."""
    part: list[tuple[BlobState, int]] = []
    total = 0
    for state, size in items:
        left = size - state.received
        if part and total + left > limit:
            yield part
            part, total = [], 0
        part.append((state, size))
        total += left
    if part:
        yield part


def _ms(service: NodeService) -> int:
    return int(service.clock.now().timestamp() * 1000)
