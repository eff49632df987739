"""The case state machine: every (state, action) pair, completeness, and final decisions."""

from __future__ import annotations

import itertools

import pytest

from node.errors import StateError
from node.workflow import DECIDED, TRANSITIONS, Action, State, initial_state, next_state

CASE = "360112-V001-20261127-0007"
ALL_PAIRS = list(itertools.product(State, Action))
ALLOWED = [pair for pair in ALL_PAIRS if pair in TRANSITIONS]
REFUSED = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def pair_id(pair: tuple[State, Action]) -> str:
    return f"{pair[0]}-{pair[1]}"


def test_the_table_covers_the_rules_of_design_section_6() -> None:
    assert TRANSITIONS == {
        (State.SUBMITTED, Action.RECEIVE): State.RECEIVED,
        (State.INCOMPLETE, Action.RECEIVE): State.RECEIVED,
        (State.RECEIVED, Action.APPROVE): State.APPROVED,
        (State.RECEIVED, Action.REJECT): State.REJECTED,
        (State.SUBMITTED, Action.APPROVE): State.APPROVED,
        (State.SUBMITTED, Action.REJECT): State.REJECTED,
        (State.INCOMPLETE, Action.REJECT): State.REJECTED,
    }


@pytest.mark.parametrize("pair", ALLOWED, ids=pair_id)
def test_allowed_transition_gives_the_tables_result(pair: tuple[State, Action]) -> None:
    state, action = pair
    assert next_state(CASE, state, action, complete=True) is TRANSITIONS[pair]


@pytest.mark.parametrize("pair", REFUSED, ids=pair_id)
def test_any_other_transition_is_refused(pair: tuple[State, Action]) -> None:
    state, action = pair
    with pytest.raises(StateError) as caught:
        next_state(CASE, state, action, complete=True)
    expected = "already_decided" if state in DECIDED else "invalid_transition"
    assert caught.value.code == expected
    assert CASE in str(caught.value)


@pytest.mark.parametrize("state", [State.SUBMITTED, State.INCOMPLETE, State.RECEIVED])
def test_approving_an_incomplete_case_is_refused(state: State) -> None:
    with pytest.raises(StateError) as caught:
        next_state(CASE, state, Action.APPROVE, complete=False, missing=("hukou", "id_card"))
    assert caught.value.code == "case_incomplete"
    assert "missing: hukou, id_card" in str(caught.value)


def test_incomplete_refusal_without_a_list_still_says_what_is_missing() -> None:
    with pytest.raises(StateError, match="missing: required materials"):
        next_state(CASE, State.RECEIVED, Action.APPROVE, complete=False)


@pytest.mark.parametrize("state", [State.INCOMPLETE, State.RECEIVED])
def test_incomplete_case_may_still_be_rejected_or_received(state: State) -> None:
    action = Action.REJECT if state is State.RECEIVED else Action.RECEIVE
    assert next_state(CASE, state, action, complete=False) is TRANSITIONS[(state, action)]


@pytest.mark.parametrize(("state", "action"), list(itertools.product(sorted(DECIDED), Action)),
                         ids=str)
def test_decided_cases_are_final(state: State, action: Action) -> None:
    with pytest.raises(StateError) as caught:
        next_state(CASE, state, action, complete=True)
    assert caught.value.code == "already_decided"
    assert f"already {state}" in str(caught.value)


def test_approving_a_case_rejected_as_incomplete_says_it_is_already_decided() -> None:
    with pytest.raises(StateError) as caught:
        next_state(CASE, State.REJECTED, Action.APPROVE, complete=False, missing=("hukou",))
    assert caught.value.code == "already_decided"


@pytest.mark.parametrize(("complete", "state"), [(True, State.SUBMITTED),
                                                 (False, State.INCOMPLETE)])
def test_initial_state_follows_the_pre_review(complete: bool, state: State) -> None:
    assert initial_state(complete=complete) is state
