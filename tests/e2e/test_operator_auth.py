"""The CLI's operator actions authenticate (issue 11): a personal token names the operator;
without one, only --local-admin acts, and the trail says so."""

from __future__ import annotations

import pytest

from bianmin.procs import run
from tests.e2e.faces import console_account
from tests.incli import setup

pytestmark = pytest.mark.e2e

NO_LOCAL_ADMIN = {"BIANMIN_LOCAL_ADMIN": ""}


def test_operator_commands_need_a_token_or_say_local_admin(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    home = str(federation.hub_home)

    refused = run("hub", "accept", case_id, "--operator", "刘芳", "--home", home,
                  check=False, env=NO_LOCAL_ADMIN)
    assert refused.returncode == 1
    assert "personal token" in refused.stderr
    assert "Traceback" not in refused.stderr

    for name in ("刘芳", "王强"):
        console_account(federation.hub_home, name)
    token = setup("hub", "operator", "token", "刘芳", "--home", home, "--json").json()["token"]
    other = setup("hub", "operator", "token", "王强", "--home", home, "--json").json()["token"]
    borrowed = run("hub", "accept", case_id, "--operator", "刘芳", "--home", home, check=False,
                   env={**NO_LOCAL_ADMIN, "BIANMIN_OPERATOR_TOKEN": other})
    assert "not 刘芳's" in borrowed.stderr
    bogus = run("hub", "accept", case_id, "--home", home, check=False,
                env={**NO_LOCAL_ADMIN, "BIANMIN_OPERATOR_TOKEN": "forged"})
    assert "not known" in bogus.stderr

    run("hub", "accept", case_id, "--home", home,
        env={**NO_LOCAL_ADMIN, "BIANMIN_OPERATOR_TOKEN": token})
    run("hub", "decide", case_id, "--approve", "--reason", "符合条件", "--operator", "刘芳",
        "--local-admin", "--home", home, env=NO_LOCAL_ADMIN)
    trail = run("hub", "trail", "--case", case_id, "--home", home).stdout
    assert "刘芳 (token)" in trail
    assert "刘芳 (local-admin)" in trail
