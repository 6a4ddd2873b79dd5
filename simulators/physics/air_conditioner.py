"""Split air conditioner / heat pump in cooling mode.

The compressor cycles on a thermostat whose duty follows the cooling load (outdoor
temperature, occupancy). Pressures equalise towards a standing pressure while it is off;
temperatures and pressures move with thermal lag, not in steps.
"""

from __future__ import annotations

import numpy as np

from .base import (
    DAY,
    ChunkInputs,
    ChunkResult,
    ConsumableModel,
    FaultMode,
    ar1,
    duty_cycle,
    hour_of_day,
    lag,
)


class AirConditioner:
    name = "air_conditioner"
    model_names = ("AC-3500", "AC-5200")
    channels = (
        "outdoor_temp",
        "return_air_temp",
        "supply_air_temp",
        "suction_pressure",
        "discharge_pressure",
        "motor_current",
        "vibration_rms",
        "filter_dp",
    )
    faults = {
        f.name: f
        for f in (
            FaultMode("refrigerant_leak", 8, 25, 0x1002, "refrigerant", shape=1.5),
            FaultMode("compressor_bearing_wear", 6, 20, 0x1003, "mechanical", shape=2.5),
            FaultMode("condenser_fouling", 10, 30, 0x1001, "heat_exchange", shape=1.8),
        )
    }
    consumables = {"air_filter": ConsumableModel("air_filter", "hours", 1500.0)}

    def initial_state(self, rng: np.random.Generator) -> dict[str, float]:
        return {
            "climate": float(rng.uniform(22.0, 30.0)),  # site's mean summer temperature
            "dust": float(rng.uniform(0.7, 1.6)),  # how fast the site clogs filters
            "weather": 0.0,
            "phase": float(rng.uniform()),
            "supply": 24.0,
            "suction": 7.0,
            "discharge": 7.0,
            "vib": 0.0,
        }

    def generate(self, c: ChunkInputs) -> ChunkResult:
        t, rng, wear, failed, n, dt, s = c.t, c.rng, c.wear, c.failed, c.n, c.dt, dict(c.state)
        leak = c.fault("refrigerant_leak")
        bearing = c.fault("compressor_bearing_wear")
        fouling = c.fault("condenser_fouling")
        filt = np.clip(wear["air_filter"], 0.0, 1.5)

        hour = hour_of_day(t)
        season = 3.0 * np.sin(2 * np.pi * (t / DAY - 100.0) / 365.25)
        weather, s["weather"] = ar1(rng, n, 0.9995, 2.0, s["weather"])
        outdoor = s["climate"] + season + 5.5 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + weather
        occupied = ((hour >= 7.0) & (hour < 23.0)).astype(float)
        load = np.clip((outdoor - 17.0) / 16.0, 0.05, 1.0) * (0.55 + 0.45 * occupied)
        duty = np.clip(0.15 + 0.8 * load + 0.35 * leak + 0.15 * fouling, 0.0, 0.97)
        on, s["phase"] = duty_cycle(t, 1800.0, duty, s["phase"], rng)
        on &= ~failed
        run = on.astype(float)

        standing = 6.0 + 0.16 * (outdoor - 20.0) - 2.5 * leak
        suction_on = 4.6 + 0.05 * (outdoor - 25.0) - 1.9 * leak - 0.35 * filt**2
        discharge_on = 15.5 + 0.38 * (outdoor - 25.0) - 2.8 * leak + 6.0 * fouling
        suction, s["suction"] = lag(np.where(on, suction_on, standing), dt, 150.0, s["suction"])
        discharge, s["discharge"] = lag(np.where(on, discharge_on, standing), dt, 200.0, s["discharge"])

        ret = 24.0 + 1.2 * (1.0 - run) + 0.6 * occupied + 0.05 * (outdoor - 25.0)
        supply_on = 12.5 + 7.0 * leak**1.2 + 2.0 * fouling - 0.8 * filt**2
        supply, s["supply"] = lag(np.where(on, supply_on, ret), dt, 300.0, s["supply"])

        current = np.where(
            on, 6.2 + 0.09 * (outdoor - 25.0) - 0.8 * leak + 2.4 * fouling + 1.5 * bearing, 0.25
        )
        vib_base = 1.6 * (1.0 + 4.0 * bearing**2) + 0.3 * fouling
        vib_noise, s["vib"] = ar1(rng, n, 0.9, 0.12, s["vib"])
        vibration = np.where(
            on, vib_base * (1.0 + vib_noise) + rng.gamma(2.0, 0.15 * (1 + 3 * bearing), n), 0.08
        )
        filter_dp = np.where(occupied + run > 0, 0.06 + 0.22 * filt**2, 0.02)  # kPa, indoor fan

        values = {
            "outdoor_temp": outdoor + 0.15 * rng.standard_normal(n),
            "return_air_temp": ret + 0.2 * rng.standard_normal(n),
            "supply_air_temp": supply + 0.25 * rng.standard_normal(n),
            "suction_pressure": suction + 0.06 * rng.standard_normal(n),
            "discharge_pressure": discharge + 0.15 * rng.standard_normal(n),
            "motor_current": current * (1.0 + 0.03 * rng.standard_normal(n)),
            "vibration_rms": np.abs(vibration),
            "filter_dp": filter_dp * (1.0 + 0.05 * rng.standard_normal(n)),
        }
        fan_hours = np.where(occupied + run > 0, dt / 3600.0, 0.0)
        dust = np.full(n, s["dust"])
        return ChunkResult(values, on, {"air_filter": fan_hours}, {"air_filter": dust}, s)
