"""Issue 16: alerts and orders carry fault names people recognise ("air filter clogged", not
"filter_dp+outdoor_temp"): from the family's declared signatures, from trip codes, and learned
from what engineers found on earlier cases with the same channels on the same model."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from cloud.fault_catalog import CONDITION_CHANNELS, FAULT_MODES
from cloud.services.fault_names import name_by_signature, signature_of
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, fault, wire
from .world import World

MODELS = {"air_conditioner": "AC-3500", "water_purifier": "RO-75", "industrial_pump": "CP-200"}
SPECIAL = {"unrecognised", "operating_conditions"}


def test_channel_sets_get_the_names_of_the_faults_they_point_to() -> None:
    cases = {
        ("AC-3500", "filter_dp+outdoor_temp"): "air_filter_clogged",  # the weather is no fault
        ("AC-3500", "outdoor_temp"): "operating_conditions",
        ("AC-3500", "suction_pressure+supply_air_temp"): "refrigerant_leak",
        ("AC-3500", "discharge_pressure+motor_current"): "condenser_fouling",
        ("AC-3500", "vibration_rms"): "compressor_bearing_wear",
        ("CP-200", "bearing_temp+vibration_rms"): "bearing_wear",
        ("CP-200", "suction_pressure"): "cavitation",
        ("RO-75", "tds_out"): "membrane_breach",
        ("RO-75", "tds_in+water_temp"): "operating_conditions",
        ("XX-1", "vibration_rms"): "unrecognised",  # a family the catalog does not know
    }
    for (model, key), expected in cases.items():
        named = name_by_signature(model, key)
        assert named.key == expected, (model, key, named)
    assert name_by_signature("AC-3500", "filter_dp").label == "air filter clogged"
    assert name_by_signature("AC-3500", "filter_dp").source == "signature"
    assert name_by_signature("AC-3500", "outdoor_temp").source == "none"


_CHANNELS = sorted({c for modes in FAULT_MODES.values() for m in modes for c in m.signature} | {"mystery"})


@given(
    family=st.sampled_from(sorted(FAULT_MODES)),
    channels=st.sets(st.sampled_from(_CHANNELS), min_size=1, max_size=5),
)
def test_a_name_is_always_a_declared_mode_or_says_it_is_not(family: str, channels: set[str]) -> None:
    model = MODELS[family]
    key = "+".join(sorted(channels))
    named = name_by_signature(model, key)
    declared = {m.key: m for m in FAULT_MODES[family]}
    assert named.key in declared or named.key in SPECIAL
    assert 0.0 <= named.confidence <= 1.0
    if named.key in declared:
        assert named.category == declared[named.key].category and named.source == "signature"
        assert set(declared[named.key].signature) & channels, "a name shares a channel with its alert"
    for condition in CONDITION_CHANNELS[family]:  # conditions never change what a fault is called
        assert name_by_signature(model, f"{key}+{condition}").key == named.key
    assert name_by_signature(model, "+".join(reversed(sorted(channels)))) == named
    assert signature_of(key + "+" + key) == key


def _resolve(client: TestClient, world: World, order: int, finding: str, parts: list[dict]) -> None:  # type: ignore[type-arg]
    for who, action, body in (
        ("frida", "accept", None),
        ("frida", "start", None),
        ("frida", "resolve", {"fix": "see finding", "parts": parts, "finding": finding}),
        ("dispatcher", "close", None),
    ):
        r = client.post(f"/api/v1/work-orders/{order}/{action}", json=body, headers=world.auth(who))
        assert r.status_code == 200, r.text


def test_alerts_and_orders_are_named_and_learn_from_what_engineers_found(
    client: TestClient, world: World, state: CloudState
) -> None:
    first = state.ingestor.handle(*wire(alert("ac-1", "raise", NOW, fault_key="filter_dp+outdoor_temp")))
    order = client.get(
        f"/api/v1/work-orders/{first.created_orders[0]}", headers=world.auth("dispatcher")
    ).json()
    assert order["title"] == "Air filter clogged suspected on ac-1"
    assert (order["fault_name"], order["fault_source"], order["category"]) == (
        "air_filter_clogged",
        "signature",
        "heat_exchange",
    )
    alerts = client.get("/api/v1/alerts", headers=world.auth("dispatcher")).json()["items"]
    assert [(a["fault_name"], a["fault_source"]) for a in alerts] == [("air_filter_clogged", "signature")]

    # on site the engineer finds the condenser coil blocked, not the filter: that is what
    # the next alert with these channels on this model is called, with the parts it took
    coil = [{"part_number": "CC-1", "name": "coil cleaner", "quantity": 1}]
    _resolve(client, world, order["id"], "condenser_fouling", coil)
    alerts = client.get("/api/v1/alerts", headers=world.auth("dispatcher")).json()["items"]
    assert [(a["fault_name"], a["fault_source"]) for a in alerts] == [("condenser_fouling", "engineer")]
    later = NOW + timedelta(days=2)
    again = state.ingestor.handle(
        *wire(alert("ac-1", "raise", later, alert_id="a2", fault_key="outdoor_temp+filter_dp"))
    )
    second = client.get(
        f"/api/v1/work-orders/{again.created_orders[0]}", headers=world.auth("dispatcher")
    ).json()
    assert second["title"] == "Condenser coil fouling suspected on ac-1"
    assert (second["fault_name"], second["fault_source"]) == ("condenser_fouling", "resolved cases")
    login_page = client.post("/ui/login", data={"token": world.token["dispatcher"]}, follow_redirects=False)
    assert login_page.status_code == 303
    page = client.get(f"/ui/work-orders/{second['id']}").text
    assert "condenser coil fouling" in page and "1 of 1 earlier cases" in page and "coil cleaner" in page

    # a finding of no fault at all warns the desk before it sends someone again
    _resolve(client, world, second["id"], "no_fault_found", [])
    third = state.ingestor.handle(
        *wire(
            alert(
                "ac-1", "raise", later + timedelta(days=1), alert_id="a3", fault_key="filter_dp+outdoor_temp"
            )
        )
    )
    named = client.get(
        f"/api/v1/work-orders/{third.created_orders[0]}", headers=world.auth("dispatcher")
    ).json()
    assert named["fault_name"] == "no_fault_found", "one case each: the latest finding wins the tie"
    assert named["fault_source"] == "resolved cases"
    assert named["title"] == "Possible false alarm on ac-1 (filter_dp+outdoor_temp): no fault found before"

    # another tenant's cases teach nothing here, and findings are checked
    r = client.post(
        f"/api/v1/work-orders/{named['id']}/resolve",
        json={"fix": "x", "finding": "Bad Name!"},
        headers=world.auth("frida"),
    )
    assert r.status_code == 422 and "finding" in r.json()["message"]


def test_a_trip_code_names_its_fault_and_the_catalog_is_readable(
    client: TestClient, world: World, state: CloudState
) -> None:
    result = state.ingestor.handle(*wire(fault("pump-1", 0x1003, NOW)))
    order = client.get(
        f"/api/v1/work-orders/{result.created_orders[0]}", headers=world.auth("dispatcher")
    ).json()
    assert (order["fault_name"], order["fault_source"], order["category"]) == (
        "bearing_wear",
        "fault code",
        "mechanical",
    )
    assert order["title"].startswith("bearing wear: fault ")
    modes = client.get(
        f"/api/v1/devices/{world.device['ac-1']}/fault-modes", headers=world.auth("dispatcher")
    )
    assert modes.status_code == 200
    assert {m["key"] for m in modes.json()} == {m.key for m in FAULT_MODES["air_conditioner"]}
    other = client.get(
        f"/api/v1/devices/{world.device['gx-1']}/fault-modes", headers=world.auth("dispatcher")
    )
    assert other.status_code == 404
