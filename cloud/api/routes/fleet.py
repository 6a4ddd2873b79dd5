"""Customers and sites."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ...db import Customer, Site
from ...errors import Conflict, NotFound
from ...schemas.common import Page
from ...schemas.fleet import CustomerCreate, CustomerPublic, SiteCreate, SitePublic
from ..deps import Admin, Reader, ScopeDep, SessionDep, Staff
from ..params import Limit, Offset
from ..scope import page

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/customers")
def list_customers(
    principal: Staff, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[CustomerPublic]:
    q = scope.select(Customer).order_by(Customer.id)
    rows, total = page(session, q, limit, offset)
    return Page[CustomerPublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("/customers", status_code=201)
def create_customer(
    body: CustomerCreate, principal: Admin, session: SessionDep, scope: ScopeDep
) -> CustomerPublic:
    row = Customer(tenant_id=scope.tenant_id, **body.model_dump())
    session.add(row)
    session.flush()
    return CustomerPublic.model_validate(row)


@router.get("/sites")
def list_sites(
    principal: Reader, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[SitePublic]:
    q = scope.select(Site).order_by(Site.id)
    if principal.role == "engineer":
        q = q.where(Site.id.in_(scope.engineer_site_ids()))
    rows, total = page(session, q, limit, offset)
    return Page[SitePublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("/sites", status_code=201)
def create_site(body: SiteCreate, principal: Admin, session: SessionDep, scope: ScopeDep) -> SitePublic:
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.tenant_id != scope.tenant_id:
            raise NotFound(f"customer {body.customer_id} not found")
    if session.scalar(scope.where(select(Site.id), Site).where(Site.key == body.key)):
        raise Conflict(f"a site with key {body.key!r} exists")
    row = Site(tenant_id=scope.tenant_id, **body.model_dump())
    session.add(row)
    session.flush()
    return SitePublic.model_validate(row)
