"""Errors the cloud's services raise on purpose, as one tree::

CloudError
├── NotFound             the thing does not exist in the caller's tenant          -> 404
├── Forbidden            the caller's role may not do this                        -> 403
├── Conflict             the request is valid but the current state refuses it    -> 409
│   └── IllegalTransition  a work-order action not allowed from its current status
├── InvalidRequest       a value the schema accepts but the domain does not       -> 422
└── NoEngineerAvailable  dispatch found nobody able to take the work order        -> 409

Services raise these and never ``HTTPException``; ``cloud.api.errors`` maps them to
status codes once. Database and MQTT exceptions are translated inside their adapters.
"""

from __future__ import annotations

__all__ = [
    "CloudError",
    "Conflict",
    "Forbidden",
    "IllegalTransition",
    "InvalidRequest",
    "NoEngineerAvailable",
    "NotFound",
    "Unavailable",
]


class CloudError(Exception):
    """Base of the cloud's deliberate errors; ``str(exc)`` is shown to the API caller."""


class NotFound(CloudError):
    pass


class Forbidden(CloudError):
    pass


class Conflict(CloudError):
    pass


class IllegalTransition(Conflict):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} a work order that is {status}")
        self.action = action
        self.status = status


class InvalidRequest(CloudError):
    pass


class NoEngineerAvailable(Conflict):
    pass


class Unavailable(CloudError):
    """An engine the request needs (not the database) did not answer: try again later."""
