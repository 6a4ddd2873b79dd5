"""Request-scoped dependencies as ``Annotated`` aliases: the state, a session that commits
when the handler returns, the authenticated principal, and role checks.

A caller authenticates with ``Authorization: Bearer <token>`` or, from the web pages, with
the same token in the ``prognos_token`` cookie (HttpOnly, SameSite=Strict). A cookie is
sent by the browser on its own, so a state-changing request authenticated by it must also
carry the ``X-Prognos-Page`` header, which another site's form cannot add (CSRF).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ..errors import Forbidden
from ..services.auth import Principal, authenticate
from ..state import CloudState
from .scope import TenantScope

__all__ = [
    "PAGE_HEADER",
    "TOKEN_COOKIE",
    "CurrentPrincipal",
    "ScopeDep",
    "SessionDep",
    "StateDep",
    "principal_for",
    "require_role",
]

TOKEN_COOKIE = "prognos_token"
PAGE_HEADER = "X-Prognos-Page"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthorized(Exception):
    """No token, or one that is unknown or revoked (401)."""


def get_state(request: Request) -> CloudState:
    return request.app.state.cloud  # type: ignore[no-any-return]


StateDep = Annotated[CloudState, Depends(get_state)]


def get_session(state: StateDep, request: Request) -> Iterator[Session]:
    with state.sessions() as session, session.begin():
        request.state.session = session  # the request's one session (a page reads through it too)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="an API token: prg_...")


def principal_for(state: CloudState, token: str | None) -> Principal | None:
    """Who ``token`` is, checked in a short transaction of its own, so a handler that hands
    work to another session (HTTP ingest) is not holding the SQLite write lock meanwhile."""
    if not token:
        return None
    with state.sessions() as session:
        return authenticate(session, state.settings.secret_key, token)


def get_principal(
    request: Request, state: StateDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from the bearer token or from the pages' cookie."""
    if creds is not None and creds.scheme.lower() == "bearer":
        token = creds.credentials
    elif cookie := request.cookies.get(TOKEN_COOKIE):
        if request.method not in _SAFE_METHODS and request.headers.get(PAGE_HEADER) != "1":
            raise Forbidden(f"a request authenticated by the page cookie must carry {PAGE_HEADER}: 1")
        token = cookie
    else:
        raise Unauthorized("missing bearer token")
    principal = principal_for(state, token)
    if principal is None:
        raise Unauthorized("unknown or revoked token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_scope(session: SessionDep, principal: CurrentPrincipal) -> TenantScope:
    """What this caller may see (see :class:`~cloud.api.scope.TenantScope`)."""
    return TenantScope(session, principal)


ScopeDep = Annotated[TenantScope, Depends(get_scope)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this (needs {' or '.join(roles)})")
        return principal

    return check


Staff = Annotated[Principal, Depends(require_role("admin", "dispatcher"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
AdminOrPlatform = Annotated[Principal, Depends(require_role("admin", "platform"))]
Reader = Annotated[Principal, Depends(require_role("admin", "dispatcher", "engineer"))]
EngineerCaller = Annotated[Principal, Depends(require_role("engineer"))]
DeviceCaller = Annotated[Principal, Depends(require_role("device"))]
