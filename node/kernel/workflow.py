"""A case's life as a table (DESIGN §6, STYLE §2). Pure.

The rules, which the table below encodes and nothing else in the code re-decides:

1. The node that takes a case pre-reviews it: ``submitted`` (complete) or ``incomplete``.
   Until it is synced, the node may add materials (its state follows completeness).
2. The upstream stores it: ``received``. The clock (DESIGN §7) starts at the hub's receipt.
3. The deciding tier accepts it (受理, ``accepted``) or declines it (不予受理,
   ``not_accepted``, reason required). An incomplete case is not accepted -- nor decided, which
   would accept it -- until supplemented.
4. The deciding tier may ask for more materials (补正) before or after accepting:
   ``supplement_requested`` (the clock pauses); the node's supplement makes it ``supplemented``
   and the deciding tier goes on from there. A node may also bring missing materials to a
   received case unasked.
5. Opinions of departments (并联审批) put an accepted case ``in_review``.
6. The deciding tier decides: ``approved`` or ``rejected``, with a reason. Deciding a case that
   is only received accepts and decides it in one step (即办件).
7. The node hands the result over: ``concluded`` (办结), after approval, rejection or a
   declined acceptance.
8. The applicant may withdraw (``withdrawn``) at any time before a decision. Decisions are
   final: a withdrawal that arrives after one is refused, with a reason that flows back down.
9. A node can lag behind its upstream (an ack lost, a supplement or a withdrawal not yet seen
   upstream): on the node, the deciding tier's records apply to any case the node has not seen
   decided, as if it were received -- the upstream is where the case stands, and a node action
   the upstream did not see in time is refused there, with a reason that flows back down.

Actors: ``node`` (the node that took the case, for the applicant), ``upstream`` (whoever
stores it on its way up), ``decider`` (the deciding tier's operators).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.kernel.errors import StateError
from node.kernel.payloads import Concluded, Supplemented, Withdrawn

__all__ = [
    "ACTORS",
    "CLOSED",
    "DECIDED",
    "NODE_ACTIONS",
    "OPEN",
    "TRANSITIONS",
    "Action",
    "Actor",
    "CaseFacts",
    "State",
    "initial_state",
    "next_state",
    "node_action_fields",
]


class State(enum.StrEnum):
    SUBMITTED = "submitted"
    INCOMPLETE = "incomplete"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    IN_REVIEW = "in_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENTED = "supplemented"
    APPROVED = "approved"
    REJECTED = "rejected"
    CONCLUDED = "concluded"
    WITHDRAWN = "withdrawn"


class Action(enum.StrEnum):
    RECEIVE = "receive"
    SUPPLEMENT = "supplement"
    WITHDRAW = "withdraw"
    CONCLUDE = "conclude"
    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    REQUEST_SUPPLEMENT = "request_supplement"
    OPINION = "opinion"
    APPROVE = "approve"
    REJECT = "reject"


class Actor(enum.StrEnum):
    NODE = "node"
    UPSTREAM = "upstream"
    DECIDER = "decider"


S, A = State, Action

ACTORS: dict[Action, Actor] = {
    A.SUPPLEMENT: Actor.NODE, A.WITHDRAW: Actor.NODE, A.CONCLUDE: Actor.NODE,
    A.RECEIVE: Actor.UPSTREAM,
    A.ACCEPT: Actor.DECIDER, A.NOT_ACCEPT: Actor.DECIDER, A.REQUEST_SUPPLEMENT: Actor.DECIDER,
    A.OPINION: Actor.DECIDER, A.APPROVE: Actor.DECIDER, A.REJECT: Actor.DECIDER,
}

_BEFORE_DECISION = (S.SUBMITTED, S.INCOMPLETE, S.RECEIVED, S.ACCEPTED, S.IN_REVIEW,
                    S.SUPPLEMENT_REQUESTED, S.SUPPLEMENTED)
_WORKABLE = (S.RECEIVED, S.ACCEPTED, S.IN_REVIEW, S.SUPPLEMENTED)

TRANSITIONS: dict[tuple[State, Action], State] = {
    # rule 1
    (S.SUBMITTED, A.SUPPLEMENT): S.SUBMITTED,
    (S.INCOMPLETE, A.SUPPLEMENT): S.INCOMPLETE,
    # rule 2
    (S.SUBMITTED, A.RECEIVE): S.RECEIVED,
    (S.INCOMPLETE, A.RECEIVE): S.RECEIVED,
    # rule 3
    (S.RECEIVED, A.ACCEPT): S.ACCEPTED,
    (S.SUPPLEMENTED, A.ACCEPT): S.ACCEPTED,
    (S.RECEIVED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
    (S.SUPPLEMENTED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
    # rule 4
    **{(s, A.REQUEST_SUPPLEMENT): S.SUPPLEMENT_REQUESTED for s in _WORKABLE},
    (S.SUPPLEMENT_REQUESTED, A.SUPPLEMENT): S.SUPPLEMENTED,
    (S.RECEIVED, A.SUPPLEMENT): S.RECEIVED,
    # rule 5
    (S.ACCEPTED, A.OPINION): S.IN_REVIEW,
    (S.IN_REVIEW, A.OPINION): S.IN_REVIEW,
    (S.SUPPLEMENTED, A.OPINION): S.IN_REVIEW,
    # rule 6
    **{(s, A.APPROVE): S.APPROVED for s in _WORKABLE},
    **{(s, A.REJECT): S.REJECTED for s in _WORKABLE},
    # rule 7
    (S.APPROVED, A.CONCLUDE): S.CONCLUDED,
    (S.REJECTED, A.CONCLUDE): S.CONCLUDED,
    (S.NOT_ACCEPTED, A.CONCLUDE): S.CONCLUDED,
    # rule 8
    **{(s, A.WITHDRAW): S.WITHDRAWN for s in _BEFORE_DECISION},
}

# Guards, as data.
NEEDS_COMPLETE = frozenset({A.ACCEPT, A.APPROVE, A.REJECT})  # rule 3: deciding accepts
NEEDS_NOT_YET_ACCEPTED = frozenset({A.ACCEPT, A.NOT_ACCEPT})
NEEDS_ACCEPTED = frozenset({A.OPINION})
DECIDED = frozenset({S.APPROVED, S.REJECTED, S.NOT_ACCEPTED})
CLOSED = DECIDED | {S.CONCLUDED, S.WITHDRAWN}
OPEN = frozenset(State) - CLOSED
# rule 9: where a lagging node stands in for "received" when the upstream's records arrive
NODE_CATCH_UP = OPEN | {S.WITHDRAWN}


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    """What the guards need to know about a case besides its state."""

    complete: bool
    accepted: bool = False
    missing: tuple[str, ...] = ()


def initial_state(*, complete: bool) -> State:
    """Rule 1."""
    return S.SUBMITTED if complete else S.INCOMPLETE


def next_state(case_id: str, state: State, action: Action, facts: CaseFacts, *,
               on_node: bool = False) -> State:
    """The state after ``action``, or ``StateError`` saying why it may not happen."""
    if on_node and ACTORS[action] is Actor.DECIDER and state in NODE_CATCH_UP:
        state = S.RECEIVED  # rule 9
    if state in DECIDED | {S.CONCLUDED} and action is not A.CONCLUDE:
        raise StateError(f"case {case_id} is already {state.value.replace('_', ' ')}; a "
                         "decision is final", code="already_decided")
    if state is S.WITHDRAWN:
        raise StateError(f"case {case_id} was withdrawn by the applicant", code="withdrawn")
    after = TRANSITIONS.get((state, action))
    if after is None:
        raise StateError(f"case {case_id} is {state.value.replace('_', ' ')}; "
                         f"'{action.value.replace('_', '-')}' is not allowed in that state",
                         code="invalid_transition")
    if action in NEEDS_COMPLETE and not facts.complete and not facts.accepted:
        listed = ", ".join(facts.missing) or "required materials"
        raise StateError(
            f"case {case_id} is incomplete (missing: {listed}); it cannot be accepted or "
            "decided until supplemented -- ask for the materials ('hub request-supplement') "
            "or decline it with a reason ('hub not-accept')",
            code="case_incomplete",
        )
    if action in NEEDS_NOT_YET_ACCEPTED and facts.accepted:
        raise StateError(f"case {case_id} is already accepted", code="already_accepted")
    if action in NEEDS_ACCEPTED and not facts.accepted:
        raise StateError(f"case {case_id} is not accepted yet; accept it first ('hub accept')",
                         code="not_accepted_yet")
    if after in (S.SUBMITTED, S.INCOMPLETE):
        return initial_state(complete=facts.complete)  # rule 1: follows completeness
    return after


# A node's own actions on its case, the same at every tier that keeps a case view.
NODE_ACTIONS: dict[type, Action] = {Supplemented: Action.SUPPLEMENT, Withdrawn: Action.WITHDRAW,
                                    Concluded: Action.CONCLUDE}


def node_action_fields(payload: Supplemented | Withdrawn | Concluded) -> dict[str, object]:
    """The case fields a node's own action sets, besides the state it moves the case to."""
    match payload:
        case Supplemented():
            return {"complete": payload.complete, "missing": ",".join(payload.missing),
                    "requested": ""}
        case Withdrawn():
            return {"reason": payload.reason}
        case _:
            return {}
