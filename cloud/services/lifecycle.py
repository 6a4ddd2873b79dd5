"""The work-order state machine, as data: which action moves which status where.

::

    open -assign-> assigned -accept-> accepted -start-> in_progress -resolve-> resolved -close-> closed
      ^               |                                                          |
      +---decline-----+ <----------------------reopen----------------------------+
    (any status but closed and cancelled) -cancel-> cancelled

A reopened order goes back to ``open`` and is dispatched again. Anything not in the table is
an :class:`~cloud.errors.IllegalTransition` (HTTP 409).
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import IllegalTransition

__all__ = ["LIVE", "Action", "Status", "actions_for_role", "allowed_actions", "next_status"]


class Status(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ASSIGN = "assign"
    ACCEPT = "accept"
    DECLINE = "decline"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"


_S, _A = Status, Action
_TABLE: dict[tuple[Status, Action], Status] = {
    (_S.OPEN, _A.ASSIGN): _S.ASSIGNED,
    (_S.ASSIGNED, _A.ASSIGN): _S.ASSIGNED,  # a dispatcher reassigns before acceptance
    (_S.ASSIGNED, _A.ACCEPT): _S.ACCEPTED,
    (_S.ASSIGNED, _A.DECLINE): _S.OPEN,
    (_S.ACCEPTED, _A.START): _S.IN_PROGRESS,
    (_S.IN_PROGRESS, _A.RESOLVE): _S.RESOLVED,
    (_S.RESOLVED, _A.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _A.REOPEN): _S.OPEN,
}
for _status in (_S.OPEN, _S.ASSIGNED, _S.ACCEPTED, _S.IN_PROGRESS, _S.RESOLVED):
    _TABLE[(_status, _A.CANCEL)] = _S.CANCELLED

#: statuses that hold the device + fault dedup key: a new alert attaches to such an order
LIVE = frozenset({_S.OPEN, _S.ASSIGNED, _S.ACCEPTED, _S.IN_PROGRESS, _S.RESOLVED})


def next_status(status: str, action: str) -> Status:
    """The status ``action`` leads to from ``status``; raise IllegalTransition if none."""
    try:
        return _TABLE[(Status(status), Action(action))]
    except (KeyError, ValueError):
        raise IllegalTransition(str(action), str(status)) from None


def allowed_actions(status: str) -> list[Action]:
    return [a for (s, a) in _TABLE if s == status]


#: who may take each action (rating is entered by the service desk on the customer's behalf)
_ROLE_ACTIONS = {
    "admin": {"assign", "cancel", "close", "reopen", "rate"},
    "dispatcher": {"assign", "cancel", "close", "reopen", "rate"},
    "engineer": {"accept", "decline", "start", "resolve"},
}


def actions_for_role(status: str, rated: bool, role: str) -> list[str]:
    """What this role may do to an order in ``status`` now: what the API will accept, and so
    what the pages offer. Rating is possible once, on a resolved order."""
    mine = _ROLE_ACTIONS.get(role, set())
    actions = [a.value for a in allowed_actions(status) if a.value in mine]
    if status == _S.RESOLVED and not rated and "rate" in mine:
        actions.append("rate")
    return actions
