"""Reverse-osmosis water purifier with a booster pump.

Water is drawn in short bursts, mostly mornings and evenings. Feed TDS drifts with the
municipal supply; product TDS follows the membrane's rejection, with the usual "TDS
creep" (a higher reading in the first minutes after the pump starts).
"""

from __future__ import annotations

import numpy as np

from .base import (
    ChunkInputs,
    ChunkResult,
    ConsumableModel,
    FaultMode,
    ar1,
    duty_cycle,
    hour_of_day,
    lag,
)


class WaterPurifier:
    name = "water_purifier"
    model_names = ("RO-75", "RO-150")
    channels = (
        "inlet_pressure",
        "filter_dp",
        "outlet_pressure",
        "flow_rate",
        "tds_in",
        "tds_out",
        "motor_current",
        "water_temp",
    )
    faults = {
        f.name: f
        for f in (
            FaultMode("pump_wear", 8, 25, 0x1001, "mechanical", shape=2.0),
            FaultMode("membrane_breach", 4, 15, 0x1005, "water_quality", shape=2.2),
        )
    }
    consumables = {
        "sediment_filter": ConsumableModel("sediment_filter", "litres", 6000.0),
        "carbon_filter": ConsumableModel("carbon_filter", "litres", 9000.0),
        "ro_membrane": ConsumableModel("ro_membrane", "litres", 40000.0),
    }

    def initial_state(self, rng: np.random.Generator) -> dict[str, float]:
        return {
            "tds_base": float(rng.uniform(180.0, 450.0)),
            "mains": float(rng.uniform(2.5, 4.0)),
            "tds_walk": 0.0,
            "press_walk": 0.0,
            "phase": float(rng.uniform()),
            "creep": 0.0,
            "temp": 18.0,
        }

    def generate(self, c: ChunkInputs) -> ChunkResult:
        t, rng, wear, failed, n, dt, s = c.t, c.rng, c.wear, c.failed, c.n, c.dt, dict(c.state)
        pump = c.fault("pump_wear")
        breach = c.fault("membrane_breach")
        sed = np.clip(wear["sediment_filter"], 0.0, 1.5)
        membrane = np.clip(wear["ro_membrane"], 0.0, 1.5)

        hour = hour_of_day(t)
        demand = (
            0.03
            + 0.35 * np.exp(-0.5 * ((hour - 7.5) / 1.0) ** 2)
            + 0.4 * np.exp(-0.5 * ((hour - 19.5) / 1.5) ** 2)
        )
        on, s["phase"] = duty_cycle(t, 900.0, demand, s["phase"], rng)
        on &= ~failed
        run = on.astype(float)

        walk, s["press_walk"] = ar1(rng, n, 0.999, 0.25, s["press_walk"])
        inlet = s["mains"] - 0.4 * np.sin(2 * np.pi * (hour - 7.0) / 24.0) ** 2 + walk - 0.3 * run
        tds_walk, s["tds_walk"] = ar1(rng, n, 0.9995, 0.08, s["tds_walk"])
        tds_in = s["tds_base"] * (1.0 + tds_walk)

        flow_nominal = 1.6 * (1.0 - 0.25 * membrane**2) * (1.0 - 0.3 * sed**3) * (1.0 - 0.45 * pump**1.5)
        flow = np.where(on, flow_nominal, 0.0)
        filter_dp = np.where(on, (6.0 + 55.0 * sed**2) * (flow_nominal / 1.6) ** 0.5, 0.4)
        outlet = np.where(on, 5.8 - 1.8 * pump - 0.6 * membrane, np.maximum(inlet - 0.2, 0.0))

        rejection = np.clip(0.965 - 0.08 * membrane**2 - 0.55 * breach**2, 0.05, 0.99)
        starts = np.diff(run, prepend=s["creep"] > 0.5) > 0  # pump started this step
        creep, _ = lag(starts.astype(float) * 3.0, dt, 180.0, 0.0)
        s["creep"] = float(run[-1]) if n else s["creep"]
        tds_out = np.where(on, tds_in * (1.0 - rejection) * (1.0 + creep), tds_in * (1.0 - rejection) * 1.4)

        current = np.where(on, 1.15 + 0.45 * pump + 0.1 * membrane, 0.02)
        temp, s["temp"] = lag(
            15.0 + 4.0 * np.sin(2 * np.pi * (hour - 10.0) / 24.0) + 2.0 * run, dt, 3600.0, s["temp"]
        )

        values = {
            "inlet_pressure": inlet + 0.04 * rng.standard_normal(n),
            "filter_dp": filter_dp * (1.0 + 0.04 * rng.standard_normal(n)),
            "outlet_pressure": outlet + 0.08 * rng.standard_normal(n),
            "flow_rate": np.maximum(flow * (1.0 + 0.03 * rng.standard_normal(n)), 0.0),
            "tds_in": tds_in + 3.0 * rng.standard_normal(n),
            "tds_out": np.maximum(tds_out + 0.8 * rng.standard_normal(n), 0.0),
            "motor_current": current * (1.0 + 0.03 * rng.standard_normal(n)),
            "water_temp": temp + 0.1 * rng.standard_normal(n),
        }
        litres = flow * dt / 60.0
        hardness = np.full(n, s["tds_base"] / 300.0)  # harder feed water wears media faster
        usage = {name: litres for name in self.consumables}
        rate = {"sediment_filter": hardness, "carbon_filter": np.ones(n), "ro_membrane": hardness}
        return ChunkResult(values, on, usage, rate, s)
