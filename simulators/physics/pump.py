"""Industrial centrifugal pump on a shift schedule.

It runs two shifts on working days with demand-driven flow, and stops at night and
on weekends. Bearing temperature follows load with a half-hour thermal lag.
"""

from __future__ import annotations

import numpy as np

from .base import DAY, ChunkInputs, ChunkResult, ConsumableModel, FaultMode, ar1, hour_of_day, lag


class IndustrialPump:
    name = "industrial_pump"
    model_names = ("CP-200", "CP-400")
    channels = (
        "vibration_rms",
        "motor_current",
        "suction_pressure",
        "discharge_pressure",
        "flow_rate",
        "bearing_temp",
        "power",
    )
    faults = {
        f.name: f
        for f in (
            FaultMode("bearing_wear", 6, 25, 0x1003, "mechanical", shape=2.5),
            FaultMode("cavitation", 4, 14, 0x1004, "hydraulic", shape=1.6),
            FaultMode("impeller_wear", 10, 30, 0x1001, "hydraulic", shape=1.4),
        )
    }
    consumables = {
        "mechanical_seal": ConsumableModel("mechanical_seal", "hours", 900.0),
        "bearing_grease": ConsumableModel("bearing_grease", "hours", 400.0),
    }

    def initial_state(self, rng: np.random.Generator) -> dict[str, float]:
        return {
            "rated_flow": float(rng.uniform(180.0, 420.0)),
            "tank": 0.0,
            "demand": 0.0,
            "temp": 25.0,
            "vib": 0.0,
            "stop_day": -1.0,
        }

    def generate(self, c: ChunkInputs) -> ChunkResult:
        t, rng, wear, failed, n, dt, s = c.t, c.rng, c.wear, c.failed, c.n, c.dt, dict(c.state)
        bearing = c.fault("bearing_wear")
        cav = c.fault("cavitation")
        impeller = c.fault("impeller_wear")
        grease = np.clip(wear["bearing_grease"], 0.0, 1.5)
        seal = np.clip(wear["mechanical_seal"], 0.0, 1.5)

        hour = hour_of_day(t)
        day = np.floor(t / DAY)
        weekday = ((day + 3) % 7) < 5  # 1970-01-01 was a Thursday
        # One unplanned stop of a few hours on about one working day in ten.
        if rng.uniform() < 0.1:
            start = rng.uniform(6.0, 20.0)
            unplanned = (hour >= start) & (hour < start + rng.uniform(0.5, 4.0))
        else:
            unplanned = np.zeros(n, dtype=bool)
        on = weekday & (hour >= 6.0) & (hour < 22.0) & ~unplanned & ~failed
        run = on.astype(float)

        demand, s["demand"] = ar1(rng, n, 0.995, 0.08, s["demand"])
        load = np.clip(0.82 + demand, 0.55, 1.0)
        tank, s["tank"] = ar1(rng, n, 0.9999, 0.05, s["tank"])
        suction = 1.2 + tank - 0.75 * cav - 0.0008 * s["rated_flow"] * load * run
        head_loss = 1.0 - 0.3 * impeller
        flow = np.where(on, s["rated_flow"] * load * head_loss * (1.0 - 0.15 * cav), 0.0)
        flow = flow * (1.0 + np.where(on, 0.02 + 0.1 * cav, 0.0) * rng.standard_normal(n))
        seal_loss = 0.4 * seal**2  # a worn seal leaks and loses a little head
        discharge = np.where(on, suction + 5.5 * load**2 * head_loss**2 - seal_loss, suction)
        power = np.where(on, 0.02 * s["rated_flow"] * (0.45 + 0.55 * load) * (1.0 + 0.12 * impeller), 0.0)
        current = np.where(on, power / 0.4 * (1.0 + 0.2 * bearing), 0.0)

        vib_noise, s["vib"] = ar1(rng, n, 0.95, 0.1, s["vib"])
        bursts = rng.gamma(1.5, 0.1 + 1.2 * cav, n) * (rng.uniform(size=n) < 0.1 + 0.5 * cav)
        vib = (2.2 + 0.8 * load) * (1.0 + 3.5 * bearing**2 + 0.3 * grease**3) * (1.0 + vib_noise) + bursts
        vibration = np.where(on, vib, 0.05 + 0.01 * rng.standard_normal(n))
        heat = 20.0 + run * (22.0 * load + 25.0 * bearing**2 + 8.0 * grease**2)
        temp, s["temp"] = lag(heat, dt, 1800.0, s["temp"])

        values = {
            "vibration_rms": np.abs(vibration),
            "motor_current": current * (1.0 + 0.02 * rng.standard_normal(n)),
            "suction_pressure": suction + 0.03 * rng.standard_normal(n),
            "discharge_pressure": discharge + 0.05 * rng.standard_normal(n),
            "flow_rate": np.maximum(flow, 0.0),
            "bearing_temp": temp + 0.2 * rng.standard_normal(n),
            "power": power * (1.0 + 0.02 * rng.standard_normal(n)),
        }
        hours = run * dt / 3600.0
        usage = {"mechanical_seal": hours, "bearing_grease": hours}
        rate = {"mechanical_seal": 1.0 + 1.5 * cav + 0.8 * bearing, "bearing_grease": heat / 42.0}
        return ChunkResult(values, on, usage, rate, s)
