"""The case state machine (node/workflow.py): every (state, action) pair, the guards, the node's
catch-up (rule 9), completeness (rule 1), the table's own sanity, and whole stories."""

from __future__ import annotations

import itertools
import re

import pytest

from node.kernel.errors import StateError
from node.kernel.workflow import (
    ACTORS,
    CLOSED,
    DECIDED,
    NEEDS_ACCEPTED,
    NEEDS_COMPLETE,
    NEEDS_NOT_YET_ACCEPTED,
    NODE_CATCH_UP,
    OPEN,
    TRANSITIONS,
    Action,
    Actor,
    CaseFacts,
    State,
    initial_state,
    next_state,
)

S, A = State, Action
CASE = "360112-V001-20261127-0007"
ALL_PAIRS = list(itertools.product(State, Action))
REFUSED = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]
FINAL = DECIDED | {S.CONCLUDED}
# Facts in every combination: a refused pair is refused whatever they say.
ANY_FACTS = [CaseFacts(complete=complete, accepted=accepted, missing=missing)
             for complete, accepted in itertools.product((True, False), repeat=2)
             for missing in ((), ("hukou",))]
NODE_DECIDER_ACTIONS = (A.APPROVE, A.REJECT, A.NOT_ACCEPT, A.REQUEST_SUPPLEMENT)
DECIDER_ACTIONS = [action for action in Action if ACTORS[action] is Actor.DECIDER]


def passing(action: Action, *, complete: bool = True) -> CaseFacts:
    """Facts that satisfy every guard on ``action``: complete, and accepted exactly when the
    action needs an accepted case (NEEDS_ACCEPTED) rather than a not-yet-accepted one."""
    return CaseFacts(complete=complete, accepted=action in NEEDS_ACCEPTED)


def outcome(state: State, action: Action, facts: CaseFacts, *, on_node: bool) -> str:
    """The next state's value, or the refusal's code -- to compare two calls."""
    try:
        return next_state(CASE, state, action, facts, on_node=on_node).value
    except StateError as error:
        return f"refused:{error.code}"


def refusal(state: State, action: Action, facts: CaseFacts, *,
            on_node: bool = False) -> StateError:
    with pytest.raises(StateError) as caught:
        next_state(CASE, state, action, facts, on_node=on_node)
    assert CASE in str(caught.value)
    return caught.value


def words(state: State) -> str:
    return state.value.replace("_", " ")


# -- 1. the table, pair by pair ---------------------------------------------------------------

@pytest.mark.parametrize(("state", "action"), ALL_PAIRS)
def test_every_pair_follows_the_table(state: State, action: Action) -> None:
    after = TRANSITIONS.get((state, action))
    if after is None:
        for facts in ANY_FACTS:
            refusal(state, action, facts)
        return
    facts = passing(action)
    if after in (S.SUBMITTED, S.INCOMPLETE):
        after = initial_state(complete=facts.complete)  # rule 1: follows completeness
    assert next_state(CASE, state, action, facts) is after


def test_the_table_encodes_the_rules() -> None:
    workable = (S.RECEIVED, S.ACCEPTED, S.IN_REVIEW, S.SUPPLEMENTED)
    before_decision = (S.SUBMITTED, S.INCOMPLETE, *workable, S.SUPPLEMENT_REQUESTED)
    expected = {
        # rule 1: the node's pre-review, while not yet synced
        (S.SUBMITTED, A.SUPPLEMENT): S.SUBMITTED,
        (S.INCOMPLETE, A.SUPPLEMENT): S.INCOMPLETE,
        # rule 2: the upstream stores it
        (S.SUBMITTED, A.RECEIVE): S.RECEIVED,
        (S.INCOMPLETE, A.RECEIVE): S.RECEIVED,
        # rule 3: accepted or declined
        (S.RECEIVED, A.ACCEPT): S.ACCEPTED,
        (S.SUPPLEMENTED, A.ACCEPT): S.ACCEPTED,
        (S.RECEIVED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
        (S.SUPPLEMENTED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
        # rule 4: supplements, asked for or not
        **{(state, A.REQUEST_SUPPLEMENT): S.SUPPLEMENT_REQUESTED for state in workable},
        (S.SUPPLEMENT_REQUESTED, A.SUPPLEMENT): S.SUPPLEMENTED,
        (S.RECEIVED, A.SUPPLEMENT): S.RECEIVED,
        # rule 5: opinions
        (S.ACCEPTED, A.OPINION): S.IN_REVIEW,
        (S.IN_REVIEW, A.OPINION): S.IN_REVIEW,
        (S.SUPPLEMENTED, A.OPINION): S.IN_REVIEW,
        # rule 6: decisions
        **{(state, A.APPROVE): S.APPROVED for state in workable},
        **{(state, A.REJECT): S.REJECTED for state in workable},
        # rule 7: the node hands the result over
        (S.APPROVED, A.CONCLUDE): S.CONCLUDED,
        (S.REJECTED, A.CONCLUDE): S.CONCLUDED,
        (S.NOT_ACCEPTED, A.CONCLUDE): S.CONCLUDED,
        # rule 8: withdrawal before a decision
        **{(state, A.WITHDRAW): S.WITHDRAWN for state in before_decision},
    }
    assert expected == TRANSITIONS


# -- 2. guards, each with its code ------------------------------------------------------------

INCOMPLETE_GUARDED = [pair for pair in TRANSITIONS if pair[1] in NEEDS_COMPLETE]


@pytest.mark.parametrize(("state", "action"), INCOMPLETE_GUARDED)
def test_an_incomplete_case_cannot_be_accepted_or_decided(state: State, action: Action) -> None:
    facts = CaseFacts(complete=False, missing=("hukou", "id_card"))
    error = refusal(state, action, facts)
    assert error.code == "case_incomplete"
    assert "missing: hukou, id_card" in str(error)


def test_an_incomplete_refusal_without_a_list_still_says_what_is_missing() -> None:
    error = refusal(S.RECEIVED, A.APPROVE, CaseFacts(complete=False))
    assert error.code == "case_incomplete"
    assert "missing: required materials" in str(error)


@pytest.mark.parametrize(("state", "action"), [
    (S.RECEIVED, A.NOT_ACCEPT), (S.SUPPLEMENTED, A.NOT_ACCEPT),
    (S.RECEIVED, A.REQUEST_SUPPLEMENT), (S.SUPPLEMENTED, A.REQUEST_SUPPLEMENT),
])
def test_an_incomplete_case_may_still_be_declined_or_asked_for_materials(
        state: State, action: Action) -> None:
    facts = CaseFacts(complete=False, missing=("hukou",))
    assert next_state(CASE, state, action, facts) is TRANSITIONS[(state, action)]


@pytest.mark.parametrize(("state", "action"), [
    pair for pair in INCOMPLETE_GUARDED if pair[1] not in NEEDS_NOT_YET_ACCEPTED])
def test_an_already_accepted_incomplete_case_may_still_be_decided(
        state: State, action: Action) -> None:
    facts = CaseFacts(complete=False, accepted=True, missing=("hukou",))
    assert next_state(CASE, state, action, facts) is TRANSITIONS[(state, action)]


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
@pytest.mark.parametrize(("state", "action"), [
    pair for pair in TRANSITIONS if pair[1] in NEEDS_NOT_YET_ACCEPTED])
def test_an_accepted_case_cannot_be_accepted_or_declined_again(
        state: State, action: Action, complete: bool) -> None:
    error = refusal(state, action, CaseFacts(complete=complete, accepted=True))
    assert error.code == "already_accepted"
    assert "already accepted" in str(error)


@pytest.mark.parametrize("state", [state for (state, action) in TRANSITIONS
                                   if action in NEEDS_ACCEPTED])
def test_an_opinion_before_acceptance_is_refused(state: State) -> None:
    error = refusal(state, A.OPINION, CaseFacts(complete=True))
    assert error.code == "not_accepted_yet"
    assert "accept it first" in str(error)


@pytest.mark.parametrize(("state", "action"), [
    (state, action) for state, action in ALL_PAIRS
    if state in FINAL and action is not A.CONCLUDE])
def test_decided_and_concluded_cases_refuse_everything_but_conclude(
        state: State, action: Action) -> None:
    for facts in ANY_FACTS:
        error = refusal(state, action, facts)
        assert error.code == "already_decided"
        assert f"already {words(state)}; a decision is final" in str(error)


@pytest.mark.parametrize("state", sorted(DECIDED))
def test_a_decided_case_can_be_concluded(state: State) -> None:
    assert next_state(CASE, state, A.CONCLUDE, CaseFacts(complete=False)) is S.CONCLUDED


def test_a_concluded_case_cannot_be_concluded_again() -> None:
    assert refusal(S.CONCLUDED, A.CONCLUDE, CaseFacts(complete=True)).code == \
        "invalid_transition"


@pytest.mark.parametrize("action", list(Action))
def test_a_withdrawn_case_refuses_everything(action: Action) -> None:
    for facts in ANY_FACTS:
        error = refusal(S.WITHDRAWN, action, facts)
        assert error.code == "withdrawn"
        assert "withdrawn by the applicant" in str(error)


@pytest.mark.parametrize(("state", "action"), [
    (state, action) for state, action in REFUSED if state in OPEN])
def test_a_pair_outside_the_table_is_an_invalid_transition(
        state: State, action: Action) -> None:
    error = refusal(state, action, passing(action))
    assert error.code == "invalid_transition"
    dashed = action.value.replace("_", "-")
    assert f"is {words(state)}; '{dashed}' is not allowed in that state" in str(error)


@pytest.mark.parametrize("action", [A.ACCEPT, A.APPROVE, A.REJECT, A.OPINION])
def test_a_refusal_only_advises_actions_the_table_allows(action: Action) -> None:
    facts = CaseFacts(complete=False, missing=("hukou",))
    error = refusal(S.SUPPLEMENT_REQUESTED, action, facts)
    advised = {A(name.replace("-", "_")) for name in re.findall(r"'hub ([a-z-]+)'", str(error))}
    assert {a for a in advised if (S.SUPPLEMENT_REQUESTED, a) not in TRANSITIONS} == set()


# -- 3. rule 9: a lagging node catches up -----------------------------------------------------

CATCH_UP = list(itertools.product(sorted(NODE_CATCH_UP), NODE_DECIDER_ACTIONS))


@pytest.mark.parametrize(("state", "action"), CATCH_UP)
def test_on_the_node_a_decider_record_applies_to_a_lagging_case_as_if_received(
        state: State, action: Action) -> None:
    after = next_state(CASE, state, action, passing(action), on_node=True)
    assert after is TRANSITIONS[(S.RECEIVED, action)]


@pytest.mark.parametrize(("state", "action"),
                         [(s, a) for s, a in CATCH_UP if (s, a) not in TRANSITIONS])
def test_off_the_node_a_decider_record_on_a_lagging_case_is_refused(
        state: State, action: Action) -> None:
    error = refusal(state, action, passing(action))
    assert error.code == ("withdrawn" if state is S.WITHDRAWN else "invalid_transition")


@pytest.mark.parametrize(("state", "action"),
                         list(itertools.product(sorted(NODE_CATCH_UP), DECIDER_ACTIONS)))
def test_on_the_node_every_decider_action_on_a_lagging_case_is_as_on_a_received_one(
        state: State, action: Action) -> None:
    for facts in ANY_FACTS:
        assert outcome(state, action, facts, on_node=True) == \
            outcome(S.RECEIVED, action, facts, on_node=False)


@pytest.mark.parametrize(("state", "action"), [
    (state, action) for state, action in ALL_PAIRS
    if not (state in NODE_CATCH_UP and ACTORS[action] is Actor.DECIDER)])
def test_on_the_node_everything_else_follows_the_table_unchanged(
        state: State, action: Action) -> None:
    for facts in ANY_FACTS:
        assert outcome(state, action, facts, on_node=True) == \
            outcome(state, action, facts, on_node=False)


# -- 4. rule 1: completeness before sync ------------------------------------------------------

@pytest.mark.parametrize(("complete", "state"), [(True, S.SUBMITTED), (False, S.INCOMPLETE)])
def test_the_initial_state_follows_the_pre_review(complete: bool, state: State) -> None:
    assert initial_state(complete=complete) is state


@pytest.mark.parametrize(("complete", "after"), [(True, S.SUBMITTED), (False, S.INCOMPLETE)],
                         ids=["complete", "incomplete"])
@pytest.mark.parametrize("state", [S.SUBMITTED, S.INCOMPLETE])
def test_a_supplement_before_sync_follows_completeness(
        state: State, complete: bool, after: State) -> None:
    facts = CaseFacts(complete=complete, missing=() if complete else ("hukou",))
    assert next_state(CASE, state, A.SUPPLEMENT, facts) is after


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "incomplete"])
@pytest.mark.parametrize(("state", "after"), [(S.RECEIVED, S.RECEIVED),
                                              (S.SUPPLEMENT_REQUESTED, S.SUPPLEMENTED)])
def test_a_supplement_after_receipt_does_not_follow_completeness(
        state: State, after: State, complete: bool) -> None:
    assert next_state(CASE, state, A.SUPPLEMENT, CaseFacts(complete=complete)) is after


# -- 5. the data's own sanity -----------------------------------------------------------------

def test_every_action_has_an_actor() -> None:
    assert set(ACTORS) == set(Action)
    assert all(isinstance(actor, Actor) for actor in ACTORS.values())


def test_every_transition_is_from_a_state_by_an_action_to_a_state() -> None:
    for (state, action), after in TRANSITIONS.items():
        assert isinstance(state, State)
        assert isinstance(action, Action)
        assert isinstance(after, State)


def test_closed_and_open_partition_the_states() -> None:
    assert CLOSED.isdisjoint(OPEN)
    assert set(State) == CLOSED | OPEN
    assert DECIDED < CLOSED
    assert set(State) >= NODE_CATCH_UP


@pytest.mark.parametrize("state", [S.CONCLUDED, S.WITHDRAWN])
def test_nothing_leaves_a_concluded_or_withdrawn_case(state: State) -> None:
    assert [pair for pair in TRANSITIONS if pair[0] is state] == []


def test_withdraw_is_allowed_from_exactly_the_states_before_a_decision() -> None:
    froms = {state for (state, action) in TRANSITIONS if action is A.WITHDRAW}
    assert froms == OPEN == {S.SUBMITTED, S.INCOMPLETE, S.RECEIVED, S.ACCEPTED, S.IN_REVIEW,
                             S.SUPPLEMENT_REQUESTED, S.SUPPLEMENTED}
    assert {TRANSITIONS[(state, A.WITHDRAW)] for state in froms} == {S.WITHDRAWN}


@pytest.mark.parametrize("state", sorted(DECIDED))
def test_a_decided_state_only_allows_conclude(state: State) -> None:
    assert {action for (s, action) in TRANSITIONS if s is state} == {A.CONCLUDE}
    assert TRANSITIONS[(state, A.CONCLUDE)] is S.CONCLUDED


def test_the_guards_only_hold_back_the_deciding_tier() -> None:
    guarded = NEEDS_COMPLETE | NEEDS_NOT_YET_ACCEPTED | NEEDS_ACCEPTED
    assert {ACTORS[action] for action in guarded} == {Actor.DECIDER}
    assert NEEDS_NOT_YET_ACCEPTED.isdisjoint(NEEDS_ACCEPTED)


# -- 6. whole stories -------------------------------------------------------------------------

INCOMPLETE = CaseFacts(complete=False, missing=("hukou",))
COMPLETE = CaseFacts(complete=True)
ACCEPTED = CaseFacts(complete=True, accepted=True)
Step = tuple[Action, CaseFacts, State]

STORIES: dict[str, tuple[State, bool, list[Step]]] = {
    "supplemented-accepted-reviewed-approved": (S.RECEIVED, False, [
        (A.REQUEST_SUPPLEMENT, INCOMPLETE, S.SUPPLEMENT_REQUESTED),
        (A.SUPPLEMENT, COMPLETE, S.SUPPLEMENTED),
        (A.ACCEPT, COMPLETE, S.ACCEPTED),
        (A.OPINION, ACCEPTED, S.IN_REVIEW),
        (A.APPROVE, ACCEPTED, S.APPROVED),
        (A.CONCLUDE, ACCEPTED, S.CONCLUDED),
    ]),
    "pre-reviewed-incomplete-then-decided-in-one-step": (S.INCOMPLETE, False, [
        (A.SUPPLEMENT, COMPLETE, S.SUBMITTED),
        (A.RECEIVE, COMPLETE, S.RECEIVED),
        (A.REJECT, COMPLETE, S.REJECTED),
        (A.CONCLUDE, ACCEPTED, S.CONCLUDED),
    ]),
    "declined-as-incomplete": (S.INCOMPLETE, False, [
        (A.RECEIVE, INCOMPLETE, S.RECEIVED),
        (A.NOT_ACCEPT, INCOMPLETE, S.NOT_ACCEPTED),
        (A.CONCLUDE, INCOMPLETE, S.CONCLUDED),
    ]),
    "withdrawn-after-a-supplement-request": (S.SUBMITTED, False, [
        (A.RECEIVE, COMPLETE, S.RECEIVED),
        (A.ACCEPT, COMPLETE, S.ACCEPTED),
        (A.REQUEST_SUPPLEMENT, ACCEPTED, S.SUPPLEMENT_REQUESTED),
        (A.WITHDRAW, ACCEPTED, S.WITHDRAWN),
    ]),
    "on-a-node-that-missed-its-ack-and-a-withdrawal": (S.SUBMITTED, True, [
        (A.REQUEST_SUPPLEMENT, ACCEPTED, S.SUPPLEMENT_REQUESTED),
        (A.SUPPLEMENT, COMPLETE, S.SUPPLEMENTED),
        (A.WITHDRAW, COMPLETE, S.WITHDRAWN),
        (A.APPROVE, ACCEPTED, S.APPROVED),
        (A.CONCLUDE, ACCEPTED, S.CONCLUDED),
    ]),
}


@pytest.mark.parametrize(("start", "on_node", "steps"), list(STORIES.values()), ids=list(STORIES))
def test_a_whole_story_walks_through_the_expected_states(
        start: State, on_node: bool, steps: list[Step]) -> None:
    state = start
    for action, facts, expected in steps:
        state = next_state(CASE, state, action, facts, on_node=on_node)
        assert (action, state) == (action, expected)
    for action in Action:
        refusal(state, action, ACCEPTED, on_node=on_node)  # the story is over


def test_a_case_but_some_fields_equals_dataclasses_replace() -> None:
    import dataclasses  # noqa: PLC0415
    import datetime as dt  # noqa: PLC0415

    from node.kernel.projector import Case  # noqa: PLC0415

    at = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    case = Case(case_id="360112-V001-20261127-0001", origin="V001", item_code="MZ-001",
                submitted_at=at, received_at=at, updated_at=at, flags=("a",))
    later = at + dt.timedelta(hours=1)
    changed = case.but(state=State.RECEIVED, complete=True, updated_at=later)
    assert changed == dataclasses.replace(case, state=State.RECEIVED, complete=True,
                                          updated_at=later)
    assert case.state is State.SUBMITTED  # the original stays
    assert case.updated_at == at
    assert hash(changed) == hash(dataclasses.replace(changed))
    with pytest.raises(TypeError, match="no field"):
        case.but(stat=State.RECEIVED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.state = State.SUBMITTED  # type: ignore[misc]
