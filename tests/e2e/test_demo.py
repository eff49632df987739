"""``bianmin demo`` runs the whole story and ends with the decisions at the village desks."""

from __future__ import annotations

import pytest

from bianmin.procs import run

pytestmark = pytest.mark.e2e


def test_demo_runs_a_federation_and_exits_zero(tmp_path):
    result = run("demo", "--dir", str(tmp_path / "demo"), timeout_s=240)
    out = result.stdout
    assert "pre-review INCOMPLETE, missing medical_assessment" in out
    assert "hub unreachable at 127.0.0.1:" in out
    assert out.count("APPROVED") == 4
    assert out.count("REJECTED") == 1
    assert "supplement requested (补正) for medical_assessment" in out
    assert "T01 decides" in out
    assert "1 decision received while the county is still down" in out
    assert "all verify" in out
    assert "township and hub stopped cleanly (exit 0, 0)" in out
    assert (tmp_path / "demo" / "county" / "hub.db").exists()  # --dir keeps the data


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("x")
    assert run("demo", "--dir", str(tmp_path), check=False).returncode == 2
