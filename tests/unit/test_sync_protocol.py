"""The pure sync protocol: batching under count and byte bounds, and the push ack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync import ProtocolViolation, WireRecord, batches, next_push_mark


def record(seq: int, size: int = 100) -> WireRecord:
    """A wire record of exactly ``size`` bytes (64 of them the signature)."""
    return WireRecord(body=b"b" * (size - 64), signature=b"s" * 64, seq=seq)


def seqs(groups: list[list[WireRecord]]) -> list[list[int]]:
    return [[r.seq for r in g] for g in groups]


def test_batches_hold_at_most_max_records() -> None:
    groups = list(batches((record(n) for n in range(1, 8)), max_records=3, max_bytes=10**6))
    assert seqs(groups) == [[1, 2, 3], [4, 5, 6], [7]]


def test_batches_hold_at_most_max_bytes() -> None:
    groups = list(batches((record(n, 100) for n in range(1, 8)), max_records=100,
                          max_bytes=250))
    assert seqs(groups) == [[1, 2], [3, 4], [5, 6], [7]]
    assert all(sum(r.size for r in g) <= 250 for g in groups)


def test_a_batch_may_fill_max_bytes_exactly() -> None:
    groups = list(batches((record(n, 100) for n in range(1, 5)), max_bytes=200))
    assert seqs(groups) == [[1, 2], [3, 4]]


def test_an_oversized_record_travels_alone() -> None:
    stream = [record(1, 100), record(2, 5000), record(3, 100), record(4, 100)]
    groups = list(batches(stream, max_records=10, max_bytes=1000))
    assert seqs(groups) == [[1], [2], [3, 4]]


def test_records_keep_their_order_and_none_is_lost() -> None:
    stream = [record(n, 64 + (n * 37) % 300) for n in range(1, 101)]
    groups = list(batches(stream, max_records=7, max_bytes=700))
    assert [r for g in groups for r in g] == stream
    assert all(1 <= len(g) <= 7 for g in groups)


def test_no_records_give_no_batches() -> None:
    assert list(batches([])) == []


def test_batches_consume_the_backlog_lazily() -> None:
    consumed = 0

    def backlog() -> Iterator[WireRecord]:
        nonlocal consumed
        for n in range(1, 10**9):
            consumed += 1
            if consumed > 3:
                raise AssertionError("batches read more than one record ahead")
            yield record(n)

    first = next(batches(backlog(), max_records=2, max_bytes=10**6))
    assert [r.seq for r in first] == [1, 2]
    assert consumed <= 3


@pytest.mark.parametrize(("max_records", "max_bytes"), [(0, 100), (10, 0), (-1, 100),
                                                        (10, -5)])
def test_bounds_below_one_are_refused(max_records: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        next(batches([record(1)], max_records=max_records, max_bytes=max_bytes))


def test_wire_record_size_counts_body_and_signature() -> None:
    assert WireRecord(body=b"x" * 10, signature=b"y" * 64).size == 74


@pytest.mark.parametrize("ack", [0, 3, 5])
def test_push_mark_moves_exactly_to_the_ack(ack: int) -> None:
    sent = [record(n) for n in (3, 4, 5)]
    assert next_push_mark(sent, ack) == ack


def test_push_mark_may_move_back_when_the_upstream_holds_less() -> None:
    assert next_push_mark([record(n) for n in (41, 42)], 12) == 12


def test_ack_beyond_the_last_record_sent_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation, match="seq 6, beyond the last record sent \\(5\\)"):
        next_push_mark([record(n) for n in (4, 5)], 6)


def test_ack_of_an_empty_push_is_taken_as_is() -> None:
    assert next_push_mark([], 9) == 9
