"""The crew's service reaches the simulated machines: a repaired fault stops, a replaced part is new."""

from __future__ import annotations

from firmware_bridge import ConsumableUsage, DeviceEvent
from simulators.fleet import plan_fleet
from simulators.stream import fleet_messages
from simulators.workshop import ServiceVisit, Workshop

TRIP = 3  # severity of a protective trip (simulators/device.py)


def _fleet():  # type: ignore[no-untyped-def]
    fleet = plan_fleet(4, 40, 11, fault_rate=1.0, interval=600, archetypes=("industrial_pump",))
    device = next(d for d in fleet.devices if d.faults and d.faults[0].failure < fleet.end)
    return fleet, device


def _trips(fleet, device_id: str, workshop: Workshop | None) -> list[DeviceEvent]:  # type: ignore[no-untyped-def]
    return [
        m
        for m in fleet_messages(fleet, workshop=workshop)
        if isinstance(m, DeviceEvent) and m.device_id == device_id and m.severity == TRIP
    ]


def test_a_fault_repaired_before_its_failure_never_trips_the_device() -> None:
    fleet, device = _fleet()
    plan = device.faults[0]
    assert len(_trips(fleet, device.device_id, None)) == 1  # left alone, it fails
    workshop = Workshop()
    workshop.record(ServiceVisit(device.device_id, plan.onset + 3600, repaired_fault=plan.mode))
    assert _trips(fleet, device.device_id, workshop) == []
    assert workshop.take(device.device_id) == []  # taken by the device's simulator


def test_a_replaced_consumable_restarts_its_counter() -> None:
    fleet, device = _fleet()
    part = device.initial_wear[0][0]
    workshop = Workshop()
    workshop.record(ServiceVisit(device.device_id, fleet.start + 5 * 86400 + 7200, replaced=part))
    usage = [
        m
        for m in fleet_messages(fleet, workshop=workshop)
        if isinstance(m, ConsumableUsage) and m.device_id == device.device_id and m.consumable == part
    ]
    swaps = [m for m in usage if m.replaced]
    assert len(swaps) >= 1 and swaps[0].timestamp == fleet.start + 5 * 86400 + 7200
    before = [m.value for m in usage if m.timestamp < swaps[0].timestamp]
    after = [m.value for m in usage if m.timestamp > swaps[0].timestamp][:3]
    assert after[0] < before[-1]  # counted from zero again
