"""A node that lost its keys continues its log under new ones (issue 12): the county's
authorization binds the new key to one place in the log, the lost key signs nothing after it,
and nobody else -- another village, a replay of the authorization elsewhere -- can use it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from county_hub.enrolment import _replace_keys
from node.kernel.clock import to_ms
from node.kernel.identity import Signer, certificate_der
from node.kernel.payloads import KeyReplaced
from node.kernel.records import REPLACEMENT_PENDING, Record
from node.receive import Inbound
from node.tier import retired_tls_mark
from tests.unit.world import County, Log, Village, submission


@pytest.fixture
def county(tmp_path: Path) -> County:
    return County(tmp_path)


def replaced(county: County, node_id: str = "V001") -> tuple[Log, KeyReplaced]:
    """The county lets ``node_id`` continue under a new key (as enrolment with a
    key-replacement token does): the new key's log and its KeyReplaced payload."""
    old = county.logs[node_id]
    new: Signer = county.certify(node_id, "village", "")
    cert = county.certs[node_id]
    with county.store.transaction() as tx:
        tx.add_certificate(cert)
        grant = _replace_keys(county.hub, tx, node_id, new.key_id, "箱子被盗")
        head = tx.head(node_id)
    assert head.key_id == REPLACEMENT_PENDING
    assert (grant.after_seq, grant.prev_hash) == (old.head.seq, old.head.hash)
    payload = KeyReplaced(new_certificate=certificate_der(cert),
                          authorization=grant.authorization, hub_key_id=grant.hub_key_id,
                          reason=grant.reason)
    return Log(node_id, new, head=old.head), payload


def codes(result) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    return [(v.seq, v.verdict.value, v.reason_code) for v in result.verdicts]


def test_the_log_continues_under_the_new_key(county: County) -> None:
    v1 = county.logs["V001"]
    county.push(v1.next(submission("V001", 1)))
    log, payload = replaced(county)
    result = county.push(log.next(payload), log.next(submission("V001", 2)))
    assert [v.verdict.value for v in result.verdicts] == ["accepted", "accepted"]
    assert county.stored("V001") == 3


def test_the_lost_key_signs_nothing_after_the_replacement(county: County) -> None:
    v1 = county.logs["V001"]
    county.push(v1.next(submission("V001", 1)))
    log, payload = replaced(county)
    stolen = dataclasses.replace(v1)  # the thief's copy of the old key and log
    result = county.push(stolen.next(submission("V001", 2)))
    assert codes(result) == [(2, "refused", "retired_key")]
    # nor a record under the new key that skips the replacement
    skipping = dataclasses.replace(log)
    assert codes(county.push(skipping.next(submission("V001", 2)))) == [
        (2, "refused", "retired_key")]
    assert codes(county.push(log.next(payload))) == [(2, "accepted", "")]
    later = county.push(stolen.next(submission("V001", 3)))
    assert codes(later)[0][2] in {"retired_key", "gap", "broken_chain"}
    assert county.stored("V001") == 2


def test_an_authorization_covers_one_place_in_one_log(county: County) -> None:
    v1 = county.logs["V001"]
    county.push(v1.next(submission("V001", 1)))
    log, payload = replaced(county)
    # not one seq later: a record first, then the replacement
    ahead = dataclasses.replace(log)
    ahead.next(submission("V001", 2))
    out = county.push(ahead.next(payload))
    assert codes(out)[0][2] in {"gap", "bad_replacement"}
    # not for another key of the same node than the one the county let in
    other = county.certify("V001", "village", "")  # (a key V001 was certified some other time)
    other_key = dataclasses.replace(payload, new_certificate=certificate_der(
        county.certs["V001"]))
    assert codes(county.push(Log("V001", other, head=log.head).next(other_key))) == [
        (2, "refused", "bad_replacement")]
    # not naming one certificate and signed by another key
    assert codes(county.push(Log("V001", other, head=log.head).next(payload))) == [
        (2, "refused", "bad_replacement")]
    # not signed by a village pretending to be the county
    v3 = county.logs["V003"]
    forged = dataclasses.replace(payload, authorization=v3.signer.sign(b"anything"),
                                 hub_key_id=v3.signer.key_id)
    assert codes(county.push(dataclasses.replace(log).next(forged))) == [
        (2, "refused", "bad_replacement")]
    # and the genuine one still works, once
    assert codes(county.push(log.next(payload))) == [(2, "accepted", "")]


def test_another_village_cannot_use_the_authorization(county: County) -> None:
    county.push(county.logs["V001"].next(submission("V001", 1)))
    _log, payload = replaced(county, "V001")
    v3 = county.logs["V003"]
    county.push(v3.next(submission("V003", 1)))
    result = county.push(v3.next(payload))  # V003 offers V001's leave in its own log
    assert codes(result)[0][1] == "refused"
    assert county.stored("V003") == 1


def test_a_township_that_takes_the_replacement_retires_the_lost_boxs_tls(
        county: County, tmp_path: Path) -> None:
    """The township learns of the replacement from the ``KeyReplaced`` its village pushes: it
    marks the village's TLS certificates older than the new records certificate retired
    (``TownshipUpstream.village`` refuses them)."""
    township = Village(county, "T01", tmp_path)
    v11 = county.logs["V011"]
    first = v11.next(submission("V011", 1))

    def push_to_township(record: Record) -> None:
        result = township.receiver.receive(Inbound(peer="V011", log_id="V011",
                                                   raw=[(record.body, record.signature)]))
        assert [v.verdict.value for v in result.verdicts] == ["accepted"]

    push_to_township(first)
    county.push(first, log_id="V011")
    with township.store.reading() as r:
        assert r.mark(retired_tls_mark("V011")) == 0
    log, payload = replaced(county, "V011")
    push_to_township(log.next(payload))
    with township.store.reading() as r:
        assert r.mark(retired_tls_mark("V011")) == to_ms(
            county.certs["V011"].not_valid_before_utc)
        assert r.head("V011").key_id == log.signer.key_id  # and the new key is in force
