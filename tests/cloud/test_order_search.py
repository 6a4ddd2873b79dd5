"""Issue 16: a paged, filterable list of all work orders, served by the same query as the API,
and a board whose columns count every order they hold. Checked on both engines against a
reference computed in Python from the unfiltered list."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from cloud.db import Base, WorkOrder
from cloud.services.sla import is_overdue, overdue_clause
from cloud.state import CloudState
from cloud.web.board import CARDS_SHOWN
from cloud.web.order_list import PAGE_SIZE

from .conftest import NOW
from .test_pages import login
from .world import World

DEVICES = ("pump-1", "ac-1", "ro-1")


def _make_orders(client: TestClient, world: World, n: int) -> list[int]:
    ids = []
    for i in range(n):
        body = {
            "device_id": world.device[DEVICES[i % 3]],
            "title": f"check {'100% duty' if i == 7 else 'noise'} #{i}",
            "category": "mechanical",
            "fault_key": f"manual-{i}",
            "severity": ("warning", "major", "critical")[i % 3],
        }
        r = client.post("/api/v1/work-orders", json=body, headers=world.auth("dispatcher"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def _all(client: TestClient, world: World, who: str = "dispatcher") -> list[dict[str, Any]]:
    r = client.get("/api/v1/work-orders?limit=1000", headers=world.auth(who))
    assert r.status_code == 200
    return r.json()["items"]  # type: ignore[no-any-return]


def _overdue(o: dict[str, Any], now: datetime) -> bool:
    due = {"open": "response_due_at", "assigned": "response_due_at", "accepted": "resolution_due_at"}.get(
        o["status"], "resolution_due_at" if o["status"] == "in_progress" else None
    )
    return due is not None and datetime.fromisoformat(o[due]) < now


def _page_ids(client: TestClient, query: str) -> list[int]:
    r = client.get(f"/ui/work-orders/list?{query}")
    assert r.status_code == 200, r.text
    return [int(x) for x in re.findall(r'<tr data-order="(\d+)"', r.text)]


def test_filters_mean_the_same_in_the_api_and_on_the_page(
    client: TestClient, world: World, state: CloudState
) -> None:
    ids = _make_orders(client, world, 70)
    for order in ids[:20]:  # some in hand, so both clocks are exercised
        client.post(
            f"/api/v1/work-orders/{order}/assign",
            json={"engineer_id": world.engineer["frida"]},
            headers=world.auth("dispatcher"),
        )
    for order in ids[:10]:
        client.post(f"/api/v1/work-orders/{order}/accept", headers=world.auth("frida"))
    client.post(
        f"/api/v1/work-orders/{ids[-1]}/cancel",
        json={"reason": "duplicate of a phone call"},
        headers=world.auth("dispatcher"),
    )
    state.clock.advance(timedelta(hours=20))  # type: ignore[attr-defined]
    now = state.clock.now()
    everything = _all(client, world)
    assert {o["id"] for o in everything} == set(ids)
    site_of = {world.device[k]: k for k in DEVICES}
    login(client, world.token["dispatcher"])
    cases: list[tuple[str, Any]] = [
        ("status=open", lambda o: o["status"] == "open"),
        ("status=accepted&status=cancelled", lambda o: o["status"] in ("accepted", "cancelled")),
        ("priority=1&priority=2", lambda o: o["priority"] in (1, 2)),
        (f"device_id={world.device['ac-1']}", lambda o: o["device_id"] == world.device["ac-1"]),
        (f"assignee_id={world.engineer['frida']}", lambda o: o["assignee_id"] == world.engineer["frida"]),
        ("overdue=yes", lambda o: _overdue(o, now)),
        ("overdue=no&status=accepted", lambda o: not _overdue(o, now) and o["status"] == "accepted"),
        ("q=NOISE", lambda o: "noise" in o["title"]),
        ("q=100%25", lambda o: "100%" in o["title"]),  # a literal %, not a wildcard
        ("q=pump-1", lambda o: site_of[o["device_id"]] == "pump-1"),  # the device's key
    ]
    for query, keep in cases:
        expected = [o["id"] for o in everything if keep(o)]
        api = client.get(f"/api/v1/work-orders?limit=1000&{query}", headers=world.auth("dispatcher")).json()
        assert [o["id"] for o in api["items"]] == expected and api["total"] == len(expected), query
        assert _page_ids(client, query) == expected[:PAGE_SIZE], query
    assert any(_overdue(o, now) for o in everything) and not all(_overdue(o, now) for o in everything)


def test_the_list_pages_through_everything_and_names_bad_filters(client: TestClient, world: World) -> None:
    ids = _make_orders(client, world, PAGE_SIZE + 7)
    login(client, world.token["dispatcher"])
    first, second = _page_ids(client, ""), _page_ids(client, "page=2")
    assert len(first) == PAGE_SIZE and len(second) == 7 and set(first + second) == set(ids)
    text = client.get("/ui/work-orders/list?page=2").text
    assert f"{PAGE_SIZE + 1}–{PAGE_SIZE + 7} of {PAGE_SIZE + 7}" in text and 'rel="prev"' in text
    api = client.get(f"/api/v1/work-orders?limit={PAGE_SIZE}&offset={PAGE_SIZE}", headers=world.auth("admin"))
    assert [o["id"] for o in api.json()["items"]] == second
    bad = client.get("/ui/work-orders/list?priority=9&site_id=x&status=lost&overdue=")
    assert bad.status_code == 200
    for message in (
        "priority: &#39;9&#39; is not 1 to 4",
        "site_id: &#39;x&#39; is not a number",
        "status: &#39;lost&#39; is not one of",
    ):
        assert message in bad.text
    assert len(re.findall(r'<tr data-order="', bad.text)) == PAGE_SIZE, "bad filters are ignored, named"


def test_an_engineer_lists_only_their_own_orders(client: TestClient, world: World) -> None:
    ids = _make_orders(client, world, 6)
    for order in ids[:2]:
        client.post(
            f"/api/v1/work-orders/{order}/assign",
            json={"engineer_id": world.engineer["paul"]},
            headers=world.auth("dispatcher"),
        )
    login(client, world.token["paul"])
    assert sorted(_page_ids(client, "")) == sorted(ids[:2])
    assert sorted(_page_ids(client, f"assignee_id={world.engineer['frida']}")) == []


def test_board_columns_count_all_their_orders_and_link_to_the_list(
    client: TestClient, world: World, state: CloudState
) -> None:
    ids = _make_orders(client, world, CARDS_SHOWN + 5)
    state.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    login(client, world.token["dispatcher"])
    board = client.get("/ui/work-orders").text
    opened = sum(1 for o in _all(client, world) if o["status"] == "open")
    assert opened > CARDS_SHOWN
    column = board[board.index('data-column="open"') : board.index('data-column="assigned"')]
    assert f'<span class="count">{opened}</span>' in column
    assert column.count("<article") == CARDS_SHOWN
    assert f'href="/ui/work-orders/list?status=open">all {opened} open' in column
    overdue = sum(1 for o in _all(client, world) if _overdue(o, state.clock.now()))
    assert f">{overdue} overdue</a>" in board and overdue == len(ids)


_TIMES = st.integers(-100, 100).map(lambda h: NOW + timedelta(hours=h))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(
                ["open", "assigned", "accepted", "in_progress", "resolved", "closed", "cancelled"]
            ),
            _TIMES,
            _TIMES,
        ),
        max_size=25,
    ),
    now=_TIMES,
)
def test_the_overdue_query_and_the_pages_rule_agree(
    orders: list[tuple[str, datetime, datetime]], now: datetime
) -> None:
    """The SQL form (search, board count) and the Python form (cards, countdowns) of 'overdue'."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        rows = [
            WorkOrder(
                tenant_id=1,
                device_id=1,
                source="manual",
                kind="corrective",
                title="t",
                fault_key=f"k{i}",
                category="general",
                status=status,
                priority=3,
                severity="warning",
                created_at=NOW,
                updated_at=NOW,
                response_due_at=respond,
                resolution_due_at=resolve,
            )
            for i, (status, respond, resolve) in enumerate(orders)
        ]
        s.add_all(rows)
        s.flush()
        in_sql = set(s.scalars(select(WorkOrder.id).where(overdue_clause(now))))
        assert in_sql == {o.id for o in rows if is_overdue(o, now)}
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == len(rows)
    engine.dispose()
