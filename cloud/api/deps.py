"""Request-scoped dependencies as ``Annotated`` aliases: the state, a session that commits
when the handler returns, the authenticated principal, and role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ..errors import Forbidden
from ..services.auth import Principal, authenticate
from ..state import CloudState

__all__ = ["CurrentPrincipal", "SessionDep", "StateDep", "require_role"]


class Unauthorized(Exception):
    """No token, or one that is unknown or revoked (401)."""


def get_state(request: Request) -> CloudState:
    return request.app.state.cloud  # type: ignore[no-any-return]


StateDep = Annotated[CloudState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="an API token: prg_...")


def get_principal(
    state: StateDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Authenticate in a short transaction of its own, so a handler that hands work to
    another session (HTTP ingest) is not holding the SQLite write lock while it waits."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    with state.sessions() as session:
        principal = authenticate(session, state.settings.secret_key, creds.credentials)
    if principal is None:
        raise Unauthorized("unknown or revoked token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this (needs {' or '.join(roles)})")
        return principal

    return check


Staff = Annotated[Principal, Depends(require_role("admin", "dispatcher"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Reader = Annotated[Principal, Depends(require_role("admin", "dispatcher", "engineer"))]
EngineerCaller = Annotated[Principal, Depends(require_role("engineer"))]
DeviceCaller = Annotated[Principal, Depends(require_role("device"))]
