"""Customers and sites."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ...db import Customer, Site
from ...errors import Conflict, NotFound
from ...schemas.common import Page
from ...schemas.fleet import CustomerCreate, CustomerPublic, SiteCreate, SitePublic
from ..deps import Admin, Reader, SessionDep, Staff
from ..params import Limit, Offset
from ..scope import engineer_site_ids, page

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/customers")
def list_customers(
    principal: Staff, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> Page[CustomerPublic]:
    q = select(Customer).where(Customer.tenant_id == principal.tenant_id).order_by(Customer.id)
    rows, total = page(session, q, limit, offset)
    return Page[CustomerPublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("/customers", status_code=201)
def create_customer(body: CustomerCreate, principal: Admin, session: SessionDep) -> CustomerPublic:
    row = Customer(tenant_id=principal.tenant_id, **body.model_dump())
    session.add(row)
    session.flush()
    return CustomerPublic.model_validate(row)


@router.get("/sites")
def list_sites(
    principal: Reader, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> Page[SitePublic]:
    q = select(Site).where(Site.tenant_id == principal.tenant_id).order_by(Site.id)
    if principal.role == "engineer":
        q = q.where(Site.id.in_(engineer_site_ids(session, principal.engineer_id or -1)))
    rows, total = page(session, q, limit, offset)
    return Page[SitePublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("/sites", status_code=201)
def create_site(body: SiteCreate, principal: Admin, session: SessionDep) -> SitePublic:
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.tenant_id != principal.tenant_id:
            raise NotFound(f"customer {body.customer_id} not found")
    if session.scalar(select(Site.id).where(Site.tenant_id == principal.tenant_id, Site.key == body.key)):
        raise Conflict(f"a site with key {body.key!r} exists")
    row = Site(tenant_id=principal.tenant_id, **body.model_dump())
    session.add(row)
    session.flush()
    return SitePublic.model_validate(row)
