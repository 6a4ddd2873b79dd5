"""Logging in to the pages with an API token.

The token a person pastes is checked like any API call and then kept in the
``prognos_token`` cookie (HttpOnly, so page scripts cannot read it; SameSite=Strict, so
other sites cannot send it). The pages' own scripts call the REST API with that cookie and
the ``X-Prognos-Page`` header; the API, not the page, decides what each role may do.
Device tokens are for machines and cannot log in.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api.deps import TOKEN_COOKIE, SessionDep, StateDep, principal_for
from ..api.scope import TenantScope
from ..services.auth import Principal
from .render import page

__all__ = ["LoginRequired", "PagePrincipal", "PageScope", "home_for", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
_MAX_FORM = 4096


class LoginRequired(Exception):
    """No valid page login: answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def home_for(principal: Principal) -> str:
    return "/ui/me" if principal.role == "engineer" else "/ui/fleet"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never redirect a login to somewhere else."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return None


def page_principal(request: Request, state: StateDep) -> Principal:
    principal = principal_for(state, request.cookies.get(TOKEN_COOKIE))
    if principal is None or principal.role == "device":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_scope(session: SessionDep, principal: PagePrincipal) -> TenantScope:
    """What the logged-in user may see on the pages (see :class:`~cloud.api.scope.TenantScope`)."""
    return TenantScope(session, principal)


PageScope = Annotated[TenantScope, Depends(page_scope)]


@router.get("/login")
def login_form(request: Request, state: StateDep, next: str | None = None) -> HTMLResponse:  # noqa: A002
    return page(request, "login.html", None, state.clock.now(), next=_safe_next(next) or "", error=None)


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    body = await request.body()
    form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    principal = principal_for(state, token)
    if principal is None or principal.role == "device":
        error = "device tokens cannot log in to the pages" if principal else "unknown or revoked token"
        return page(request, "login.html", None, state.clock.now(), 401, next=target or "", error=error)
    response = RedirectResponse(target or home_for(principal), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


@router.get("")
@router.get("/")
def home(principal: PagePrincipal) -> Response:
    return RedirectResponse(home_for(principal), status_code=303)


def login_redirect(exc: LoginRequired) -> Response:
    return RedirectResponse(f"/ui/login?next={quote(exc.next_url)}", status_code=303)
