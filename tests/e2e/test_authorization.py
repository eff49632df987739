"""Who may push what (DESIGN §4): identity comes from the TLS certificate only."""

from __future__ import annotations

import pytest

from bianmin.procs import run
from sync import CallRefused, WireRecord
from tests.e2e.helpers import client_of, records_of

pytestmark = pytest.mark.e2e


def test_village_cannot_push_another_villages_log(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    intake(v1)
    stolen = records_of(v1, "V001")
    with client_of(v2, federation.sync_at) as client, pytest.raises(CallRefused) as refused:
        client.push("V001", stolen)
    assert "may only push its own log" in str(refused.value)
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM records WHERE log_id='V001'").fetchone()[0] == 0


def test_records_of_another_log_inside_a_push_of_ones_own_are_refused(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    intake(v1)
    with client_of(v2, federation.sync_at) as client:
        result = client.push("V002", records_of(v1, "V001"))
    assert result.committed_seq == 0
    assert [o.reason_code for o in result.outcomes] == ["wrong_log", "wrong_log"]
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 0 + db.execute(
            "SELECT count(*) FROM records WHERE log_id IN ('HUB', 'CATALOG')").fetchone()[0]
    run("node", "sync", "--home", str(v1))  # the real owner still syncs fine


def test_a_tampered_record_is_refused_and_nothing_is_stored(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    first, second = records_of(v1, "V001")
    body = bytearray(first.body)
    where = body.find("张秀英".encode())
    body[where + 2] ^= 0x01  # still valid UTF-8 text, different name
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [WireRecord(body=bytes(body), signature=first.signature,
                                                 seq=1), second])
    assert result.committed_seq == 0
    assert result.outcomes[0].reason_code == "bad_signature"
    assert result.outcomes[1].reason_code == "after_refusal"
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    assert run("node", "sync", "--home", str(v1), "--json").json()["pushed"] == 2
