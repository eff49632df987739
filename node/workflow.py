"""A case's life as a table (DESIGN §6, STYLE §2). Pure.

Rules, in the order the table below encodes them:

1. A node takes a case offline; pre-review makes it ``submitted`` (complete) or ``incomplete``.
2. The upstream stores it: ``received``. At the node a case is received once the upstream has
   acknowledged committing its records.
3. The deciding tier decides a received case: ``approved`` or ``rejected``, always with a
   reason. Deciding a received case accepts and decides it in one step (即办件).
4. A case pre-reviewed as incomplete may be rejected but not approved until supplemented.
5. Decisions are final: nothing follows ``approved`` or ``rejected`` in this table.
6. A decision may reach a node before the node has seen its own records acknowledged (the ack
   was lost); the decision, signed upstream, then moves the case on from where the node stands.

Everything else asks this module; nothing else decides what may follow what.
"""

from __future__ import annotations

import enum

from node.errors import StateError

__all__ = ["DECIDED", "TRANSITIONS", "Action", "State", "initial_state", "next_state"]


class State(enum.StrEnum):
    SUBMITTED = "submitted"
    INCOMPLETE = "incomplete"
    RECEIVED = "received"
    APPROVED = "approved"
    REJECTED = "rejected"


class Action(enum.StrEnum):
    RECEIVE = "receive"
    APPROVE = "approve"
    REJECT = "reject"


S, A = State, Action

TRANSITIONS: dict[tuple[State, Action], State] = {
    # rule 2
    (S.SUBMITTED, A.RECEIVE): S.RECEIVED,
    (S.INCOMPLETE, A.RECEIVE): S.RECEIVED,
    # rule 3
    (S.RECEIVED, A.APPROVE): S.APPROVED,
    (S.RECEIVED, A.REJECT): S.REJECTED,
    # rule 6
    (S.SUBMITTED, A.APPROVE): S.APPROVED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.INCOMPLETE, A.REJECT): S.REJECTED,
}

# rule 4: actions that need a case whose pre-review found everything required
NEEDS_COMPLETE = frozenset({A.APPROVE})

DECIDED = frozenset({S.APPROVED, S.REJECTED})


def initial_state(*, complete: bool) -> State:
    """Rule 1."""
    return S.SUBMITTED if complete else S.INCOMPLETE


def next_state(case_id: str, state: State, action: Action, *, complete: bool,
               missing: tuple[str, ...] = ()) -> State:
    """The state after ``action``, or ``StateError`` saying why it may not happen."""
    if state in DECIDED:
        raise StateError(f"case {case_id} is already {state}; a decision is final",
                         code="already_decided")
    if action in NEEDS_COMPLETE and not complete:
        listed = ", ".join(missing) or "required materials"
        raise StateError(
            f"case {case_id} is incomplete (missing: {listed}); it cannot be approved until "
            "the applicant supplements it -- reject it with a reason or wait",
            code="case_incomplete",
        )
    after = TRANSITIONS.get((state, action))
    if after is None:
        raise StateError(f"case {case_id} is {state}; '{action}' is not allowed in that state",
                         code="invalid_transition")
    return after
