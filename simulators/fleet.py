"""Who is in the simulated fleet: device specs, their planned faults, and how to build them.

A fleet is planned once from a seed (or read from a TOML file) and is then fixed: the
plan *is* the ground truth for faults, so the code that injects a fault and the code
that reports it read the same :class:`FaultPlan`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .physics import ARCHETYPES

__all__ = ["DEFAULT_START", "DeviceSpec", "FaultPlan", "FleetSpec", "load_fleet_config", "plan_fleet"]

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAY = 86_400.0
_PREFIX = {"air_conditioner": "ac", "water_purifier": "ro", "industrial_pump": "pump"}


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A fault that starts developing at ``onset`` and trips the device at ``failure`` (epoch s)."""

    mode: str
    onset: float
    failure: float


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    archetype: str
    model: str
    serial: str
    site: str
    latitude: float
    longitude: float
    install_date: str
    warranty_end: str
    transport: str = "file"  # "file" | "serial" | "mqtt": where a streaming run sends it
    faults: tuple[FaultPlan, ...] = ()
    initial_wear: tuple[tuple[str, float], ...] = ()

    def as_record(self) -> dict[str, Any]:
        """Manifest row for fleet.json (no faults: those are only in truth.jsonl)."""
        return {
            "device_id": self.device_id,
            "archetype": self.archetype,
            "model": self.model,
            "serial": self.serial,
            "site": self.site,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "install_date": self.install_date,
            "warranty_end": self.warranty_end,
            "transport": self.transport,
            "channels": list(ARCHETYPES[self.archetype].channels),
            "consumables": [c for c, _ in self.initial_wear],
        }


@dataclass(frozen=True, slots=True)
class FleetSpec:
    seed: int
    start: float  # epoch seconds
    days: float
    interval: float  # seconds between samples
    tenant: str = "demo"
    replace_after_days: float | None = 3.0  # consumables are swapped this long after depletion
    devices: tuple[DeviceSpec, ...] = field(default_factory=tuple)

    @property
    def end(self) -> float:
        return self.start + self.days * DAY


def _iso_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _plan_faults(
    rng: np.random.Generator, archetype: str, start: float, days: float, fault_rate: float
) -> tuple[FaultPlan, ...]:
    if rng.uniform() >= fault_rate:
        return ()
    modes = ARCHETYPES[archetype].faults
    mode = modes[str(rng.choice(sorted(modes)))]
    length = min(rng.uniform(mode.min_days, mode.max_days), 0.75 * days) * DAY
    earliest = start + max(0.15 * days, min(1.0, 0.3 * days)) * DAY  # a healthy period to learn from
    latest = max(earliest, start + days * DAY - 0.85 * length)
    onset = rng.uniform(earliest, latest)
    return (FaultPlan(mode.name, float(onset), float(onset + length)),)


def plan_fleet(
    devices: int,
    days: float,
    seed: int,
    *,
    start: datetime = DEFAULT_START,
    interval: float = 60.0,
    fault_rate: float = 0.4,
    archetypes: tuple[str, ...] | None = None,
    tenant: str = "demo",
    transports: tuple[str, ...] = ("file",),
    center: tuple[float, float] = (48.137, 11.575),
) -> FleetSpec:
    """A deterministic fleet: archetypes in rotation, faults on about ``fault_rate`` of devices."""
    if devices < 1 or days <= 0 or interval <= 0:
        raise ValueError("devices, days and interval must be positive")
    kinds = archetypes or tuple(ARCHETYPES)
    unknown = set(kinds) - set(ARCHETYPES)
    if unknown:
        raise ValueError(f"unknown archetype(s) {sorted(unknown)}; known: {sorted(ARCHETYPES)}")
    rng = np.random.default_rng([seed, 0xF1EE7])
    t0 = start.timestamp()
    n_sites = max(1, devices // 4)
    sites = [
        (f"site-{i + 1:03d}", center[0] + rng.normal(0, 0.25), center[1] + rng.normal(0, 0.35))
        for i in range(n_sites)
    ]
    specs = []
    counters: dict[str, int] = {}
    for i in range(devices):
        arch = kinds[i % len(kinds)]
        counters[arch] = counters.get(arch, 0) + 1
        model = ARCHETYPES[arch]
        site, lat, lon = sites[int(rng.integers(n_sites))]
        installed = t0 - rng.uniform(30, 4 * 365) * DAY
        wear = tuple((c, float(rng.uniform(0.0, 0.9))) for c in model.consumables)
        specs.append(
            DeviceSpec(
                device_id=f"{_PREFIX[arch]}-{counters[arch]:04d}",
                archetype=arch,
                model=str(rng.choice(model.model_names)),
                serial=f"SN{seed % 1000:03d}{i:06d}",
                site=site,
                latitude=round(float(lat), 5),
                longitude=round(float(lon), 5),
                install_date=_iso_date(installed),
                warranty_end=_iso_date(installed + 2 * 365 * DAY),
                transport=transports[i % len(transports)],
                faults=_plan_faults(rng, arch, t0, days, fault_rate),
                initial_wear=wear,
            )
        )
    return FleetSpec(seed, t0, float(days), float(interval), tenant, devices=tuple(specs))


def load_fleet_config(path: Path, **overrides: Any) -> FleetSpec:
    """Build a fleet from TOML: ``[fleet]`` settings plus ``[[group]]`` tables.

    ::

        [fleet]
        seed = 7
        days = 30
        interval = 60
        tenant = "acme"
        start = "2026-03-01T00:00:00Z"

        [[group]]
        archetype = "industrial_pump"
        count = 4
        fault_rate = 1.0
        faults = ["bearing_wear"]        # optional: restrict the modes
        transport = "serial"             # optional: file | serial | mqtt
    """
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read fleet config {path}: {exc}") from exc
    top = {**doc.get("fleet", {}), **{k: v for k, v in overrides.items() if v is not None}}
    groups = doc.get("group") or []
    if not groups:
        raise ValueError(f"{path}: needs at least one [[group]] with archetype and count")
    start = datetime.fromisoformat(str(top.get("start", DEFAULT_START.isoformat())).replace("Z", "+00:00"))
    seed, days = int(top.get("seed", 0)), float(top.get("days", 30))
    devices: list[DeviceSpec] = []
    for gi, group in enumerate(groups):
        arch = group.get("archetype")
        if arch not in ARCHETYPES:
            raise ValueError(f"{path}: group {gi + 1} archetype {arch!r} is not one of {sorted(ARCHETYPES)}")
        sub = plan_fleet(
            int(group.get("count", 1)),
            days,
            seed * 1000 + gi,
            start=start,
            interval=float(top.get("interval", 60)),
            fault_rate=float(group.get("fault_rate", 0.4)),
            archetypes=(arch,),
            transports=(str(group.get("transport", "file")),),
        )
        allowed = group.get("faults")
        bad = set(allowed or ()) - set(ARCHETYPES[arch].faults)
        if bad:
            raise ValueError(f"{path}: {arch} has no fault mode(s) {sorted(bad)}")
        for spec in sub.devices:
            if allowed and spec.faults and spec.faults[0].mode not in allowed:
                rng = np.random.default_rng([seed, gi, len(devices)])
                mode = str(rng.choice(sorted(allowed)))
                spec = replace(spec, faults=(replace(spec.faults[0], mode=mode),))
            n = sum(d.archetype == arch for d in devices) + 1
            devices.append(replace(spec, device_id=f"{_PREFIX[arch]}-{n:04d}"))
    return FleetSpec(
        seed,
        start.timestamp(),
        days,
        float(top.get("interval", 60)),
        str(top.get("tenant", "demo")),
        top.get("replace_after_days", 3.0),
        tuple(devices),
    )
