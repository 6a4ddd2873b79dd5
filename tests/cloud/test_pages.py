"""The web pages, rendered by the service against seeded data on both engines: login and
its cookie, what each role sees and is offered, and what the pages say about the fleet.
(The same pages in a real browser: tests/browser/.)"""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from cloud.state import CloudState
from firmware_bridge.contract import EvidencePoint

from .conftest import NOW
from .messages import alert, consumable, summary, wire
from .world import World


def login(client: TestClient, token: str) -> None:
    client.cookies.clear()
    r = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _seed(state: CloudState) -> int:
    """Summaries for ac-1, an alert on it, a filter running out: the order id of the alert."""
    for i in range(12):
        state.ingestor.handle(*wire(summary("ac-1", NOW - timedelta(minutes=5 * (12 - i)), score=0.05 * i)))
    state.ingestor.handle(*wire(consumable("ac-1", "air_filter", NOW, 0.2, NOW + timedelta(days=9))))
    return state.ingestor.handle(*wire(alert("ac-1", "raise", NOW))).created_orders[0]


def test_login_sets_a_strict_http_only_cookie_and_pages_redirect_without_it(
    client: TestClient, world: World
) -> None:
    r = client.get("/ui/fleet", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/fleet"
    bad = client.post("/ui/login", data={"token": "prg_nonsense"}, follow_redirects=False)
    assert bad.status_code == 401 and "unknown or revoked token" in bad.text
    device = client.post("/ui/login", data={"token": world.token["device:ac-1"]}, follow_redirects=False)
    assert device.status_code == 401 and "device tokens cannot log in" in device.text
    r = client.post(
        "/ui/login",
        data={"token": world.token["dispatcher"], "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/fleet", "no open redirect"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    engineer = client.post("/ui/login", data={"token": world.token["frida"]}, follow_redirects=False)
    assert engineer.headers["location"] == "/ui/me"


def test_fleet_page_shows_health_alerts_consumables_and_filters(
    client: TestClient, world: World, state: CloudState
) -> None:
    _seed(state)
    login(client, world.token["dispatcher"])
    page = client.get("/ui/fleet").text
    rows = dict(re.findall(r'data-device="([^"]+)" data-status="([^"]+)"', page))
    assert rows == {"ac-1": "major", "pump-1": "never_seen", "ro-1": "never_seen"}, (
        "globex's gx-1 is not here"
    )
    assert "air filter 20%" in page
    only_pumps = client.get("/ui/fleet?model=CP-200").text
    assert re.findall(r'data-device="([^"]+)"', only_pumps) == ["pump-1"]
    state.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    later = client.get("/ui/fleet?sort=device").text
    assert 'data-device="ac-1" data-status="offline"' in later, "a device that stops reporting shows offline"


def test_device_page_marks_alerts_on_the_trends_and_lists_what_matters(
    client: TestClient, world: World, state: CloudState
) -> None:
    order_id = _seed(state)
    login(client, world.token["dispatcher"])
    page = client.get(f"/ui/devices/{world.device['ac-1']}").text
    assert page.count("<svg") == 2  # the anomaly score and the one summarised channel
    assert page.count('data-alert="a1"') == 2, "the alert is marked on every trend chart"
    assert 'data-channel="suction_pressure"' in page
    assert f'href="/ui/work-orders/{order_id}"' in page and "air filter" in page
    assert "Predicted failure" in page and 'id="similar"' in page
    other = client.get(f"/ui/devices/{world.device['gx-1']}")
    assert other.status_code == 404 and "Not found" in other.text, "another tenant's device does not exist"


def test_board_offers_each_role_only_what_the_api_accepts(
    client: TestClient, world: World, state: CloudState
) -> None:
    order_id = _seed(state)
    login(client, world.token["dispatcher"])
    board = client.get("/ui/work-orders").text
    card = board[board.index(f'data-order="{order_id}" data-status="assigned"') :]
    card = card[: card.index("</article>")]
    assert "respond in 4h 0m" in card and "Frida" in card and "Why Frida?" in card
    assert 'data-action="accept"' not in card and 'data-action="cancel"' in card
    login(client, world.token["frida"])
    mine = client.get("/ui/work-orders").text
    assert f'data-order="{order_id}" data-action="accept"' in mine
    login(client, world.token["paul"])
    assert f'data-order="{order_id}"' not in client.get("/ui/work-orders").text
    assert client.get(f"/ui/work-orders/{order_id}").status_code == 404
    state.clock.advance(timedelta(hours=5))  # type: ignore[attr-defined]
    login(client, world.token["dispatcher"])
    late = client.get(f"/ui/work-orders/{order_id}").text
    assert 'class="value small overdue" id="order-sla">overdue by 1h 0m' in late


def test_page_cookie_acts_through_the_api_only_with_the_page_header(
    client: TestClient, world: World, state: CloudState
) -> None:
    order_id = _seed(state)
    login(client, world.token["frida"])
    forged = client.post(f"/api/v1/work-orders/{order_id}/accept")
    assert forged.status_code == 403 and "X-Prognos-Page" in forged.json()["detail"]
    r = client.post(f"/api/v1/work-orders/{order_id}/accept", headers={"X-Prognos-Page": "1"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    login(client, world.token["dispatcher"])
    refused = client.post(f"/api/v1/work-orders/{order_id}/start", headers={"X-Prognos-Page": "1"})
    assert refused.status_code == 403, "what a role may not do is refused by the API"


def test_engineer_route_lists_stops_with_distance_parts_and_health(
    client: TestClient, world: World, state: CloudState
) -> None:
    _seed(state)
    state.ingestor.handle(
        *wire(consumable("ac-1", "air_filter", NOW + timedelta(days=7), 0.02, NOW + timedelta(days=9)))
    )
    login(client, world.token["frida"])
    page = client.get("/ui/me").text
    stops = re.findall(r'class="stop" data-order="(\d+)"', page)
    assert len(stops) == 2  # the preventive order and the filter replacement, both at North
    assert "1.3 km" in page and "0.0 km" in page, "home to North, then the same site"
    assert "1× air filter (AF-200)" in page
    login(client, world.token["dispatcher"])
    assert client.get("/ui/me").status_code == 403


def test_kpis_page_is_for_the_service_desk(client: TestClient, world: World, state: CloudState) -> None:
    _seed(state)
    login(client, world.token["admin"])
    page = client.get("/ui/kpis").text
    assert 'data-kpi="mttr"' in page and "AC-3500" in page and "suction_pressure" in page
    assert "air filter" in page and "consumable forecast" in page
    login(client, world.token["frida"])
    assert client.get("/ui/kpis").status_code == 403


def test_change_feed_moves_when_data_arrives(client: TestClient, world: World, state: CloudState) -> None:
    login(client, world.token["dispatcher"])
    before = client.get("/ui/changes").json()["version"]
    assert client.get("/ui/changes").json()["version"] == before
    state.ingestor.handle(*wire(summary("ac-1", NOW)))
    assert client.get("/ui/changes").json()["version"] != before
    # a page carries the version it was rendered with, so its script compares against what it
    # shows: a change between the render and the first poll is not missed (a flaky browser test)
    page = client.get("/ui/fleet").text
    assert f'data-version="{client.get("/ui/changes").json()["version"]}"' in page


def test_a_channel_that_dropped_out_in_the_evidence_is_a_gap_not_an_error(
    client: TestClient, world: World, state: CloudState
) -> None:
    """Found by the README screenshots: a NaN sample in an alert's window broke the board."""
    raised = alert("ac-1", "raise", NOW)
    t = NOW.timestamp()
    gappy = [
        EvidencePoint(t=t - 60 * i, values={"suction_pressure": None if i == 1 else 3.1}, score=0.5)
        for i in range(3)
    ]
    order_id = state.ingestor.handle(*wire(raised.model_copy(update={"evidence": gappy}))).created_orders[0]
    login(client, world.token["dispatcher"])
    assert client.get("/ui/work-orders").status_code == 200
    page = client.get(f"/ui/work-orders/{order_id}")
    assert page.status_code == 200 and "suction_pressure: the samples that triggered the alert" in page.text


def test_order_page_folds_repeated_evidence_keeps_the_samples_and_gives_reasons(
    client: TestClient, world: World, state: CloudState
) -> None:
    """Issue 16: an order's history had 166 'evidence attached' lines while its Evidence section
    said 'No sample window attached' (score-only repeats had pushed the samples out), charts had
    no visible titles, and a cancellation showed no reason."""
    order_id = _seed(state)
    for i in range(40):  # repeats of the same fault, with scores but no samples
        repeat = alert("ac-1", "raise", NOW + timedelta(minutes=i + 1), alert_id=f"r{i}")
        state.ingestor.handle(*wire(repeat.model_copy(update={"evidence": []})))
    login(client, world.token["dispatcher"])
    page = client.get(f"/ui/work-orders/{order_id}").text
    history = page[page.index('id="history"') : page.index("Similar past cases")]
    assert history.count('data-kind="evidence attached"') == 1 and "×40" in history
    evidence = page[page.index('id="evidence"') : page.index('id="history"')]
    assert "<figcaption>suction pressure</figcaption>" in evidence, "a visible title per chart"
    assert "<figcaption>anomaly score</figcaption>" in evidence and "alert a1 raise" in evidence
    r = client.post(
        f"/api/v1/work-orders/{order_id}/cancel",
        json={"reason": "customer replaced the unit"},
        headers=world.auth("dispatcher"),
    )
    assert r.status_code == 200, r.text
    page = client.get(f"/ui/work-orders/{order_id}").text
    assert "reason: customer replaced the unit" in page


def test_order_page_gives_the_rul_interval_in_cycles_and_days(
    client: TestClient, world: World, state: CloudState
) -> None:
    pace = 6 * 3600.0  # a cycle every six hours
    t = NOW.timestamp()
    msg = alert("pump-1", "raise", NOW, fault_key="vibration_rms").model_copy(
        update={
            "predicted_failure_at": t + 150 * pace,
            "predicted_failure_ci": (t + 120 * pace, t + 190 * pace),
            "rul_cycles": (120.0, 150.0, 190.0),
        }
    )
    (order_id,) = state.ingestor.handle(*wire(msg)).created_orders
    login(client, world.token["dispatcher"])
    page = client.get(f"/ui/work-orders/{order_id}").text
    assert 'id="order-rul">fails in 120–190 cycles (about 30–48 days at this device&#39;s pace)' in page
    assert 'id="order-safe">latest safe' in page


def test_device_page_plots_rul_over_time_with_its_band(
    client: TestClient, world: World, state: CloudState
) -> None:
    """Summaries that carry a RUL model's call draw it over time with the 90 % interval as a
    band, through both ingest paths (the bulk path and the per-message one agree)."""
    batch = [
        wire(
            summary("ac-1", NOW + timedelta(minutes=5 * i)).model_copy(
                update={"rul_cycles": (40.0 - i - 8, 40.0 - i, 40.0 - i + 12)}
            )
        )
        for i in range(6)
    ]
    state.ingestor.handle_batch(batch[:3])  # the bulk path
    for delivery in batch[3:]:
        state.ingestor.handle(*delivery)
    login(client, world.token["dispatcher"])
    page = client.get(f"/ui/devices/{world.device['ac-1']}").text
    chart = page[page.index('id="rul-chart"') :]
    chart = chart[: chart.index("</figure>")]
    assert 'data-series="remaining useful life"' in chart and '<polygon class="band"' in chart
    assert len(chart.split('<polyline class="line"')[1].split('points="')[1].split('"')[0].split()) == 6
    other = client.get(f"/ui/devices/{world.device['pump-1']}").text
    assert 'id="rul-chart"' not in other  # no RUL model, no chart
