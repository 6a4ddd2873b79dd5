"""The people in the loop, simulated: engineers who work their orders, a dispatcher who rates them.

The fleet simulator stands in for the machines; this stands in for the service crew, so a
demo's work orders move through their whole life (accepted, started, resolved, rated,
closed) and the board, the engineer view and the KPIs show a working service rather
than a pile of assigned cards. Everything goes through the public REST API with each
person's own token, exactly as the pages' buttons do, so the crew also exercises the
roles, the state machine and the re-dispatch after a decline.

Timing is in simulated time, read from the orders' own timestamps: :meth:`FieldCrew.step`
is called with the simulation's clock (the demo does it once per simulated hour) and
takes every step whose delay has passed. Delays, declines and ratings are drawn from a
generator seeded by the order id, so a run is repeatable. On site the engineer finds
what the simulator really injected: the fault that is developing (and fixes it with the
part it needs), the worn consumable, or nothing at all after a false alert.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .fleet import FleetSpec
from .workshop import ServiceVisit, Workshop

__all__ = ["FAULT_REPAIRS", "CrewStats", "FieldCrew", "Finding", "rating"]

log = logging.getLogger(__name__)

HOUR = 3600.0

#: fault mode -> (what the engineer writes, parts used): the on-site finding for a real fault
FAULT_REPAIRS: dict[str, tuple[str, list[tuple[str, str, int]]]] = {
    "bearing_wear": (
        "replaced worn drive-end bearing, realigned coupling",
        [("BRG-6205", "bearing 6205-2RS", 2)],
    ),
    "cavitation": ("cleared suction strainer, restored NPSH margin", [("STR-50", "suction strainer", 1)]),
    "impeller_wear": ("replaced eroded impeller", [("IMP-150", "impeller 150 mm", 1)]),
    "pump_wear": ("rebuilt booster pump head", [("PMP-K1", "booster pump rebuild kit", 1)]),
    "membrane_breach": ("replaced breached RO membrane", [("ROM-75", "RO membrane", 1)]),
    "refrigerant_leak": (
        "found leak at Schrader valve, replaced core, recharged refrigerant",
        [("VLV-SCH", "Schrader valve core", 1), ("R32-1", "R32 refrigerant, 1 kg", 1)],
    ),
    "compressor_bearing_wear": ("replaced compressor bearings", [("CBR-22", "compressor bearing set", 1)]),
    "condenser_fouling": ("cleaned condenser coil", []),
}

_CONSUMABLE_FIX = "replaced the worn consumable"
_NOTHING_FOUND = "inspected on site, readings within tolerance; no fault found"


def rating(order: dict[str, Any], mood: int) -> tuple[int, str]:
    """The customer's stars and comment, true to the order's own history: a late or reopened
    order is never called quick, and costs stars (``mood`` is the customer's 2..5 draw)."""
    late = [
        what
        for what, done, due in (
            ("response", order.get("accepted_at"), order.get("response_due_at")),
            ("repair", order.get("resolved_at"), order.get("resolution_due_at")),
        )
        if done and due and _ts(done) > _ts(due)
    ]
    reopened = int(order.get("reopened") or 0)
    if not late and not reopened:
        return mood, "on time and fixed first go" if mood >= 4 else "on time, but the visit was rough"
    notes = [f"{' and '.join(late)} late"] if late else []
    if reopened:
        notes.append(f"came back {reopened} time{'s' if reopened > 1 else ''}")
    return min(mood, 3), ", ".join(notes)


@dataclass
class CrewStats:
    accepted: int = 0
    declined: int = 0
    started: int = 0
    resolved: int = 0
    rated: int = 0
    refused: int = 0  # a step the API refused (the order moved on meanwhile): skipped


@dataclass(frozen=True, slots=True)
class Finding:
    """What the engineer finds on site and writes on the order."""

    fix: str
    parts: list[dict[str, Any]]
    fault: str | None = None  # the injected fault mode found, and repaired
    replaced: str | None = None  # the consumable renewed


@dataclass(frozen=True, slots=True)
class _Timing:
    """How one order goes, drawn once from its own seed (hours unless said)."""

    accept_after: float
    travel: float
    repair: float
    rate_after: float
    stars: int


class FieldCrew:
    """Engineers and a dispatcher acting on the cloud's work orders through its REST API.

    ``engineer_tokens`` maps engineer id -> API token; ``dispatcher_token`` rates and sees
    every order. ``fleet`` is the simulated fleet, whose ground truth tells an engineer
    what is really wrong with a device on site.
    """

    def __init__(
        self,
        base_url: str,
        engineer_tokens: dict[int, str],
        dispatcher_token: str,
        fleet: FleetSpec,
        *,
        decline_share: float = 0.05,
        timeout: float = 10.0,
        workshop: Workshop | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.engineer_tokens = engineer_tokens
        self.dispatcher_token = dispatcher_token
        self.fleet = fleet
        self.decline_share = decline_share
        self.timeout = timeout
        self.workshop = workshop  # where repairs reach the simulated devices, if anywhere
        self.stats = CrewStats()
        self._repaired: set[tuple[str, str]] = set()
        self._device_keys: dict[int, str] = {}
        self._faults = {d.device_id: d.faults for d in fleet.devices}

    # -- the API ---------------------------------------------------------------------
    def _call(self, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base_url}/api/v1{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - our own URL
            return json.loads(resp.read() or b"null")

    def _act(self, order_id: int, action: str, token: str, body: dict[str, Any] | None = None) -> bool:
        try:
            self._call("POST", f"/work-orders/{order_id}/{action}", token, body or {})
            return True
        except urllib.error.HTTPError as exc:
            if exc.code == 409:  # the order moved on (escalated, cancelled, reassigned): skip it
                self.stats.refused += 1
                return False
            raise

    def _orders(self, *statuses: str) -> list[dict[str, Any]]:
        query = "&".join(f"status={s}" for s in statuses)
        out: list[dict[str, Any]] = []
        while True:
            page = self._call(
                "GET", f"/work-orders?{query}&limit=1000&offset={len(out)}", self.dispatcher_token
            )
            out += page["items"]
            if len(out) >= page["total"] or not page["items"]:
                return out

    def _device_key(self, device_id: int) -> str:
        if device_id not in self._device_keys:
            self._device_keys[device_id] = self._call("GET", f"/devices/{device_id}", self.dispatcher_token)[
                "key"
            ]
        return self._device_keys[device_id]

    # -- behaviour -------------------------------------------------------------------
    def _timing(self, order_id: int) -> _Timing:
        rng = np.random.default_rng([self.fleet.seed, 0xC2E1, order_id])
        return _Timing(
            accept_after=float(rng.uniform(0.1, 1.5)),
            travel=float(rng.uniform(0.5, 3.0)),
            repair=float(rng.uniform(0.5, 4.0)),
            rate_after=float(rng.uniform(2.0, 30.0)),
            stars=int(rng.choice([5, 4, 3, 2], p=[0.6, 0.28, 0.08, 0.04])),
        )

    def _declines(self, order_id: int, engineer_id: int) -> bool:
        """Each engineer offered an order decides once; rarely, and never all of them in a row."""
        return bool(
            np.random.default_rng([self.fleet.seed, 0xDEC1, order_id, engineer_id]).uniform()
            < self.decline_share
        )

    def finding(self, order: dict[str, Any], at: float) -> Finding:
        """What the engineer finds on site at ``at``: the injected fault, the consumable, or nothing."""
        key = order["fault_key"] or ""
        if order["kind"] == "replacement" and key.startswith("consumable:"):
            # the order's own planned part is the one used
            return Finding(_CONSUMABLE_FIX, [], replaced=key.split(":", 1)[1])
        device = self._device_key(order["device_id"])
        for fault in self._faults.get(device, ()):
            if fault.onset <= at and (device, fault.mode) not in self._repaired:
                fix, parts = FAULT_REPAIRS.get(fault.mode, (f"repaired {fault.mode.replace('_', ' ')}", []))
                used = [{"part_number": p, "name": n, "quantity": q} for p, n, q in parts]
                return Finding(fix, used, fault.mode)
        return Finding(_NOTHING_FOUND, [])

    def step(self, now: float) -> CrewStats:
        """Take every step that is due at simulated time ``now`` (epoch seconds)."""
        orders = self._orders("assigned", "accepted", "in_progress", "resolved")
        busy = {o["assignee_id"] for o in orders if o["status"] == "in_progress"}
        for order in orders:
            try:
                self._advance(order, now, busy)
            except (urllib.error.URLError, OSError) as exc:
                log.warning("field crew: work order %s: %s", order["id"], exc)
        return self.stats

    def _advance(self, order: dict[str, Any], now: float, busy: set[int]) -> None:
        """One step of one order, if due. An engineer works one order at a time (``busy``)."""
        timing = self._timing(order["id"])
        since = {k: _ts(order[k]) for k in ("assigned_at", "accepted_at", "started_at", "resolved_at")}
        token = self.engineer_tokens.get(order["assignee_id"] or 0)
        status = order["status"]
        if status == "resolved":
            if order["rating"] is None and now >= since["resolved_at"] + timing.rate_after * HOUR:
                stars, comment = rating(order, timing.stars)
                if self._act(
                    order["id"], "rate", self.dispatcher_token, {"stars": stars, "comment": comment}
                ):
                    self.stats.rated += 1
            return
        if token is None:
            return  # assigned to someone the crew does not play (a person using the pages)
        if status == "assigned" and now >= since["assigned_at"] + timing.accept_after * HOUR:
            if self._declines(order["id"], order["assignee_id"]):
                if self._act(order["id"], "decline", token, {"reason": "on another job across town"}):
                    self.stats.declined += 1
                return
            if self._act(order["id"], "accept", token):
                self.stats.accepted += 1
        elif status == "accepted" and order["assignee_id"] not in busy:
            if now >= since["accepted_at"] + timing.travel * HOUR and self._act(order["id"], "start", token):
                busy.add(order["assignee_id"])
                self.stats.started += 1
        elif status == "in_progress" and now >= since["started_at"] + timing.repair * HOUR:
            found = self.finding(order, now)
            body: dict[str, Any] = {"fix": found.fix, "parts": found.parts}
            if found.replaced is None:  # what was wrong, in the catalog's words: later alerts learn it
                body["finding"] = found.fault or "no_fault_found"
            if self._act(order["id"], "resolve", token, body):
                self.stats.resolved += 1
                self._serviced(order, now, found)

    def _serviced(self, order: dict[str, Any], at: float, found: Finding) -> None:
        """What the engineer did reaches the simulated machine (through the workshop)."""
        if found.fault is None and found.replaced is None:
            return  # nothing was wrong: nothing changes on the machine
        device = self._device_key(order["device_id"])
        if found.fault is not None:
            self._repaired.add((device, found.fault))
        if self.workshop is not None:
            self.workshop.record(
                ServiceVisit(device, at, repaired_fault=found.fault, replaced=found.replaced)
            )


def _ts(value: str | None) -> float:
    """An API timestamp as epoch seconds (naive ones are UTC); none yet is "never"."""
    if not value:
        return float("inf")
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
