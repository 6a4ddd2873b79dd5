from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import ConsumableUsage, DeviceEvent, Heartbeat, Sample
from simulators.device import DeviceSimulator
from simulators.files import write_fleet_files
from simulators.fleet import DAY, load_fleet_config, plan_fleet
from simulators.physics import ARCHETYPES
from simulators.sinks import ListSink
from simulators.stream import fleet_messages, run_stream
from simulators.truth import read_truth


def day_arrays(fleet, index):  # type: ignore[no-untyped-def]
    sim = DeviceSimulator(fleet.devices[index], fleet, index)
    chunks = list(sim.chunks())
    t = np.concatenate([c.t for c in chunks])
    values = {k: np.concatenate([c.values[k] for c in chunks]) for k in sim.model.channels}
    return sim, chunks, t, values


def test_archetypes_have_enough_channels_faults_and_consumables() -> None:
    assert len(ARCHETYPES) >= 3
    for arch in ARCHETYPES.values():
        assert len(arch.channels) >= 4
        assert len(arch.faults) >= 2
        assert arch.consumables


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    a, b, c = plan_fleet(6, 3, seed=11), plan_fleet(6, 3, seed=11), plan_fleet(6, 3, seed=12)
    assert a == b and a != c
    _, _, ta, va = day_arrays(a, 0)
    _, _, tb, vb = day_arrays(b, 0)
    np.testing.assert_array_equal(ta, tb)
    for k in va:
        np.testing.assert_array_equal(va[k], vb[k])


def test_file_mode_is_deterministic_and_writes_every_output(tmp_path: Path) -> None:
    fleet = plan_fleet(4, 2, seed=3)
    one = write_fleet_files(fleet, tmp_path / "one", workers=1)
    two = write_fleet_files(fleet, tmp_path / "two", workers=2)
    assert one.rows == two.rows > 0
    for spec in fleet.devices:
        name = f"{spec.device_id}.csv"
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one" / "truth.jsonl").read_bytes() == (tmp_path / "two" / "truth.jsonl").read_bytes()
    with open(tmp_path / "one" / f"{fleet.devices[0].device_id}.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["timestamp", *ARCHETYPES[fleet.devices[0].archetype].channels, "anomaly"]
    assert rows[1][0].endswith("Z") and "T" in rows[1][0]
    assert len(rows) - 1 <= 2 * 1440  # a few rows may be missing: the device was offline


def test_a_fault_moves_its_signature_channel_before_failure() -> None:
    fleet = plan_fleet(30, 40, seed=2, fault_rate=1.0, archetypes=("industrial_pump",))
    checked = 0
    for i, spec in enumerate(fleet.devices):
        plan = spec.faults[0]
        if plan.mode != "bearing_wear" or plan.failure > fleet.end:
            continue
        _, _, t, v = day_arrays(fleet, i)
        running = v["motor_current"] > 1.0
        early = running & (t < plan.onset)
        late = running & (t > plan.onset + 0.8 * (plan.failure - plan.onset)) & (t < plan.failure)
        if late.sum() < 60:
            continue  # the last stretch fell on a weekend stop
        assert np.nanmedian(v["vibration_rms"][late]) > 1.5 * np.nanmedian(v["vibration_rms"][early])
        checked += 1
    assert checked >= 2


def test_device_trips_at_failure_and_stops_running() -> None:
    fleet = plan_fleet(9, 30, seed=4, fault_rate=1.0)
    for i, spec in enumerate(fleet.devices):
        plan = spec.faults[0]
        if plan.failure > fleet.end - DAY:
            continue
        sim, chunks, t, v = day_arrays(fleet, i)
        trips = [m for c in chunks for m in c.messages if isinstance(m, DeviceEvent) and m.severity == 3]
        assert len(trips) == 1 and trips[0].code == sim.model.faults[plan.mode].trip_code
        assert abs(trips[0].timestamp - plan.failure) <= fleet.interval
        after = t > plan.failure + fleet.interval
        assert np.nanmax(v["motor_current"][after]) < 1.0  # nothing runs after the trip
        return
    pytest.fail("no device failed inside the run")


def test_consumables_deplete_get_replaced_and_counters_reset() -> None:
    fleet = plan_fleet(3, 40, seed=8, archetypes=("water_purifier",), fault_rate=0.0)
    events = []
    counters: dict[str, list[ConsumableUsage]] = {}
    for i in range(len(fleet.devices)):
        _, chunks, _, _ = day_arrays(fleet, i)
        events += [r for c in chunks for r in c.truth]
        for c in chunks:
            for m in c.messages:
                if isinstance(m, ConsumableUsage):
                    counters.setdefault(f"{m.device_id}/{m.consumable}", []).append(m)
    depleted = [e for e in events if e["event"] == "depleted"]
    replaced = [e for e in events if e["event"] == "replaced"]
    assert depleted and replaced
    for rep in replaced:
        dep = max(
            d["at_ts"]
            for d in depleted
            if (d["device"], d["consumable"]) == (rep["device"], rep["consumable"])
            and d["at_ts"] < rep["at_ts"]
        )
        assert rep["at_ts"] - dep == pytest.approx(3 * DAY)
        series = counters[f"{rep['device']}/{rep['consumable']}"]
        marker = [m for m in series if m.replaced]
        assert marker and marker[0].value == 0.0
        before = [m.value for m in series if m.timestamp < rep["at_ts"]]
        after = [m.value for m in series if m.timestamp > rep["at_ts"] and not m.replaced]
        assert after and after[0] < before[-1]  # the counter restarted
    for series in counters.values():  # between replacements, usage only grows
        values = [m.value for m in series if not m.replaced]
        assert all(b >= a for a, b in zip(values, values[1:], strict=False) if b >= 0.5 * a)


def test_nuisances_are_present_but_rare() -> None:
    fleet = plan_fleet(3, 30, seed=1, fault_rate=0.0)
    _, _, t, v = day_arrays(fleet, 0)
    nan_share = np.mean([np.isnan(x).mean() for x in v.values()])
    assert 0 < nan_share < 0.01
    gaps = np.diff(t)
    assert (gaps > 1.5 * fleet.interval).sum() >= 0  # offline windows are possible
    assert np.all(gaps > 0)  # timestamps strictly increase despite jitter


def test_stream_matches_file_mode_values(tmp_path: Path) -> None:
    fleet = plan_fleet(3, 1, seed=9)
    write_fleet_files(fleet, tmp_path, workers=1)
    sink = ListSink()
    run_stream(fleet, {d.device_id: sink for d in fleet.devices})
    device = fleet.devices[1].device_id
    samples = [m for m in sink.messages if isinstance(m, Sample) and m.device_id == device]
    with open(tmp_path / f"{device}.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(samples)
    for row, s in zip(rows[::97], samples[::97], strict=True):
        for k, v in s.values.items():
            assert (row[k] == "" and math.isnan(v)) or float(row[k]) == pytest.approx(v, abs=1e-4)


def test_stream_is_time_ordered_and_numbered_per_device() -> None:
    fleet = plan_fleet(4, 1, seed=6)
    msgs = list(fleet_messages(fleet))
    times = [m.timestamp for m in msgs]
    assert times == sorted(times)
    for spec in fleet.devices:
        seqs = [m.seq for m in msgs if m.device_id == spec.device_id]
        assert seqs == list(range(len(seqs)))
    kinds = {type(m) for m in msgs}
    assert {Sample, DeviceEvent, ConsumableUsage, Heartbeat} <= kinds


def test_stream_loss_makes_gaps() -> None:
    fleet = plan_fleet(2, 0.5, seed=6)
    sink = ListSink()
    result = run_stream(fleet, {d.device_id: sink for d in fleet.devices}, loss=0.05)
    assert result["lost_on_purpose"] > 0
    assert result["sent"] == len(sink.messages)


def test_truth_matches_the_plan(tmp_path: Path) -> None:
    fleet = plan_fleet(12, 20, seed=5, fault_rate=0.5)
    write_fleet_files(fleet, tmp_path, workers=1)
    truth = read_truth(tmp_path / "truth.jsonl")
    faults = [r for r in truth if r["kind"] == "fault"]
    planned = [(d.device_id, f.mode, f.onset, f.failure) for d in fleet.devices for f in d.faults]
    assert sorted((r["device"], r["fault"], r["onset_ts"], r["failure_ts"]) for r in faults) == sorted(
        planned
    )
    for r in faults:
        assert fleet.start < r["onset_ts"] < r["failure_ts"]
        assert r["fault"] in ARCHETYPES[r["archetype"]].faults


def test_fleet_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "fleet.toml"
    conf.write_text(
        '[fleet]\nseed = 4\ndays = 10\ntenant = "acme"\nstart = "2026-03-02T00:00:00Z"\n\n'
        '[[group]]\narchetype = "industrial_pump"\ncount = 3\nfault_rate = 1.0\nfaults = ["cavitation"]\n\n'
        '[[group]]\narchetype = "water_purifier"\ncount = 2\nfault_rate = 0.0\ntransport = "mqtt"\n'
    )
    fleet = load_fleet_config(conf)
    assert [d.device_id for d in fleet.devices] == [
        "pump-0001",
        "pump-0002",
        "pump-0003",
        "ro-0001",
        "ro-0002",
    ]
    assert all(d.faults[0].mode == "cavitation" for d in fleet.devices[:3])
    assert not any(d.faults for d in fleet.devices[3:])
    assert fleet.tenant == "acme" and fleet.devices[3].transport == "mqtt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fleet]\nseed = 1\n", "at least one [[group]]"),
        ('[[group]]\narchetype = "toaster"\n', "archetype 'toaster'"),
        ('[[group]]\narchetype = "industrial_pump"\nfaults = ["gremlins"]\n', "no fault mode"),
        ("[[group\n", "cannot read"),
    ],
)
def test_fleet_config_errors_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        load_fleet_config(conf)


def test_each_csv_labels_its_rows_from_the_truth(tmp_path: Path) -> None:
    """Issue 16: simulator CSVs had no label column, so training could not keep fault rows out."""
    from edge.table import read_table

    fleet = plan_fleet(3, 4.0, seed=2, fault_rate=1.0)
    write_fleet_files(fleet, tmp_path, workers=1)
    for spec in fleet.devices:
        table = read_table(tmp_path / f"{spec.device_id}.csv")
        assert table.features[-1] == "anomaly"
        label = table.X[:, -1] > 0.5
        onset = min((f.onset for f in spec.faults), default=float("inf"))
        assert (label == (table.time >= onset - 0.5)).mean() > 0.999  # to the row (times are rounded)
