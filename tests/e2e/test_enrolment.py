"""Enrolment (DESIGN §4): bad tokens are refused clearly and the hub keeps serving."""

from __future__ import annotations

import json

import pytest

from bianmin.procs import run

pytestmark = pytest.mark.e2e


def init(federation, home, token, *extra):
    return run("node", "init", "--home", str(home), "--upstream", federation.sync_at,
               "--enrol", federation.enrol_at, "--token", token, "--json", *extra, check=False)


def refused(result) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)["error"]["message"]


def test_a_token_works_once(federation):
    token = federation.token("V001")["token"]
    assert init(federation, federation.root / "a", token).returncode == 0
    message = refused(init(federation, federation.root / "b", token))
    assert "already used" in message or "already enrolled" in message
    assert not (federation.root / "b").exists()


def test_an_unknown_token_is_refused(federation):
    real = federation.token("V001")["token"]
    _prefix, _secret, fingerprint = real.split(".")
    message = refused(init(federation, federation.root / "a",
                           f"bm1.{'a' * 32}.{fingerprint}"))
    assert "not known" in message


def test_an_expired_token_is_refused(federation):
    token = federation.token("V001")["token"]
    with federation.hub_db() as db:
        db.execute("UPDATE tokens SET expires_at_ms = 0")
    assert "expired" in refused(init(federation, federation.root / "a", token))


def test_a_token_for_another_node_id_is_refused(federation):
    token = federation.token("V001")["token"]
    message = refused(init(federation, federation.root / "a", token, "--node-id", "V002"))
    assert "issued for node V001, not V002" in message
    # the refusal did not use the token up
    assert init(federation, federation.root / "b", token).returncode == 0


def test_a_token_naming_another_county_ca_is_refused_before_enrolling(federation):
    token = federation.token("V001")["token"]
    prefix, secret, _fingerprint = token.split(".")
    message = refused(init(federation, federation.root / "a", f"{prefix}.{secret}.{'0' * 64}"))
    assert "does not present the county CA named in the token" in message
    assert init(federation, federation.root / "b", token).returncode == 0


def test_a_malformed_token_is_refused_without_contacting_anyone(federation):
    assert "not an enrolment token" in refused(init(federation, federation.root / "a", "abc"))


def test_the_hub_keeps_serving_after_refusals(federation, intake):
    for _ in range(3):
        init(federation, federation.root / "x", "bm1.nope." + "0" * 64)
    assert federation.hub is not None
    assert federation.hub.alive()
    home = federation.enrol("V001")
    intake(home)
    assert run("node", "sync", "--home", str(home), "--json").json()["pushed"] == 2
