"""Reason codes travel in a refused call's trailing metadata twice -- plainly and as the
standard rich status -- and are read back from either (``sync.status``)."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2, status_pb2

from sync.status import DETAILS_KEY, ERROR_DOMAIN, REASON_KEY, reason_in, refusal_trailers


def test_the_trailers_carry_the_code_plainly_and_as_error_info() -> None:
    trailers = dict(refusal_trailers("batch_too_large", status=3, message="too many"))
    assert trailers[REASON_KEY] == "batch_too_large"
    rich = status_pb2.Status.FromString(trailers[DETAILS_KEY])  # type: ignore[arg-type]
    assert (rich.code, rich.message) == (3, "too many")
    info = error_details_pb2.ErrorInfo()
    assert rich.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("batch_too_large", ERROR_DOMAIN)


def test_either_copy_is_enough_and_the_rich_one_wins() -> None:
    both = refusal_trailers("token_used", status=16, message="x")
    assert reason_in(both) == "token_used"
    assert reason_in([both[0]]) == "token_used"
    assert reason_in([both[1]]) == "token_used"
    assert reason_in([(REASON_KEY, "other"), both[1]]) == "token_used"


@pytest.mark.parametrize("trailers", [
    None, [], [("x-other", "v")], [(REASON_KEY, "Not A Code")], [(DETAILS_KEY, b"\xff\xff")],
])
def test_no_code_or_an_unreadable_one_reads_as_none(trailers) -> None:  # type: ignore[no-untyped-def]
    assert reason_in(trailers) == ""


def test_a_code_must_be_lower_snake_case() -> None:
    with pytest.raises(ValueError, match="lower_snake_case"):
        refusal_trailers("BATCH-TOO-LARGE", status=3, message="x")
