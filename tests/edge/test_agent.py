"""The agent core without I/O: device messages in, contract messages out."""

from __future__ import annotations

import math

from edge.agent import Agent, AgentSettings
from edge.consumables import ConsumableTracker
from edge.health import HealthTracker
from firmware_bridge import ConsumableUsage, DeviceEvent, Sample
from firmware_bridge.contract import AlertMessage


def run(agent: Agent, messages: list) -> list:  # type: ignore[type-arg]
    return [p for m in messages for p in agent.handle(m)]


def samples(n: int, start: int = 0, shift_from: int | None = None) -> list[Sample]:
    import numpy as np

    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        v = float(rng.normal(5.0, 0.2)) + (3.0 if shift_from is not None and i >= shift_from else 0.0)
        out.append(
            Sample(
                "pump-1",
                1_767_225_600.0 + 60 * i,
                i,
                {"vibration_rms": v, "motor_current": 10.0 + i % 3 * 0.01},
            )
        )
    return out


def test_alert_with_evidence_fault_key_and_summaries() -> None:
    agent = Agent(AgentSettings(tenant="acme", agent_id="e1"), clock=lambda: 42.0)
    out = run(agent, samples(600, shift_from=500))
    alerts = [m for m in out if isinstance(m, AlertMessage)]
    assert alerts and alerts[0].transition == "raise"
    a = alerts[0]
    assert a.fault_key == "vibration_rms" and a.tenant == "acme" and a.created_at == 42.0
    assert 500 <= (a.at - 1_767_225_600.0) / 60 < 520
    assert len(a.evidence) == 30 and a.evidence[-1].score == a.score
    summaries = [m for m in out if m.kind == "summary"]
    assert len(summaries) >= 590
    s = summaries[0]
    assert s.channels["vibration_rms"].count == 1 and s.window_end - s.window_start == 60


def test_message_ids_are_deterministic() -> None:
    a, b = Agent(AgentSettings()), Agent(AgentSettings())
    ids_a = [p.message_id for m in samples(600, shift_from=500) for p in a.handle(m)]
    ids_b = [p.message_id for m in samples(600, shift_from=500) for p in b.handle(m)]
    assert ids_a == ids_b and len(set(ids_a)) == len(ids_a)


def test_checkpoint_restore_continues_without_re_raising() -> None:
    agent = Agent(AgentSettings())
    first = run(agent, samples(520, shift_from=500))
    assert any(isinstance(m, AlertMessage) and m.transition == "raise" for m in first)
    restored = Agent(AgentSettings())
    restored.restore(agent.checkpoint(only_dirty=False))
    later = run(restored, samples(40, start=520, shift_from=500))
    assert not any(isinstance(m, AlertMessage) and m.transition == "raise" for m in later)


def test_fault_events_and_consumables() -> None:
    agent = Agent(AgentSettings(consumable_every_s=0))
    out = run(agent, [DeviceEvent("ac-1", 100.0, 1, 0x1002, 3)])
    assert out[0].kind == "fault" and out[0].name == "low_pressure_trip"
    usage = [ConsumableUsage("ac-1", 3600.0 * i, 2 + i, "air_filter", "hours", 100.0 + i) for i in range(10)]
    statuses = run(agent, usage)
    last = statuses[-1]
    assert last.kind == "consumable" and math.isclose(last.remaining_fraction, 1 - 109 / 1500)
    assert last.predicted_depletion_at is not None
    assert abs(last.predicted_depletion_at - (9 * 3600 + (1500 - 109) * 3600)) < 3600
    lo, hi = last.predicted_depletion_ci
    assert lo <= last.predicted_depletion_at <= hi
    replaced = run(agent, [ConsumableUsage("ac-1", 40000.0, 20, "air_filter", "hours", 0.0, True)])
    assert replaced[0].replaced and replaced[0].remaining_fraction == 1.0
    assert run(agent, [ConsumableUsage("ac-1", 1.0, 21, "unobtainium", "hours", 1.0)]) == []


def test_consumable_tracker_resets_when_the_counter_restarts() -> None:
    tr = ConsumableTracker(life=100.0)
    for i in range(5):
        tr.update(float(i), 10.0 * i)
    est = tr.update(5.0, 1.0)  # lower than before: a new part
    assert est.usage == 1.0 and est.predicted_depletion_at is None and len(tr.points) == 1


def test_health_trend_predicts_when_the_level_crosses_the_limit() -> None:
    h = HealthTracker(bucket_s=3600)
    for hour in range(12):
        for k in range(60):
            h.add(hour * 3600 + k * 60, 1.0 - (1.0 + 0.5 * hour) / 8.0)  # wear climbs 1/16 per hour
    est = h.estimate(12 * 3600)
    assert 0.0 <= est.health < 0.5
    assert est.predicted_failure_at is not None and abs(est.predicted_failure_at - 14.5 * 3600) < 3600
    assert est.ci is not None and est.ci[0] <= est.predicted_failure_at <= est.ci[1]
    flat = HealthTracker()
    for hour in range(12):
        flat.add(hour * 3600.0, 1.0)
    assert flat.estimate(12 * 3600).predicted_failure_at is None


def test_condition_beats_usage_for_a_clogging_filter() -> None:
    from edge.consumables import Condition

    tr = ConsumableTracker(life=1500.0, condition=Condition("filter_dp", 0.06, 0.28))
    for hour in range(48):
        for k in range(6):
            t = hour * 3600.0 + k * 600
            tr.observe(t, 0.10 + 0.003 * hour if k % 2 else 0.02)  # hourly peak climbs 3 Pa/h
        est = tr.update(hour * 3600.0 + 3599, 10.0 * hour)
    assert est.remaining_fraction < 1 - 470 / 1500  # the pressure drop says more worn than the hours
    assert est.predicted_depletion_at is not None
    expected = (0.28 - 0.10) / 0.003 * 3600.0  # hour at which the peak reaches the limit
    assert abs(est.predicted_depletion_at - expected) < 4 * 3600
    reset = tr.update(50 * 3600.0, 0.0, replaced=True)
    assert reset.remaining_fraction == 1.0 and len(tr.health) == 0


def test_every_named_detector_runs_in_the_agent() -> None:
    """The agent grows a detector's channels as they appear; River's HST once crashed on
    that path (it built its trees from the empty sample it was handed first)."""
    from models.registry import DETECTORS

    for name in [*(d for d in DETECTORS if ":" not in d), "robust+hst"]:
        agent = Agent(AgentSettings(detector=name))
        out = run(agent, samples(300, shift_from=250))
        assert any(m.kind == "summary" for m in out), name
        assert agent.devices["pump-1"].pipeline.detector.features == ["vibration_rms", "motor_current"]


def _other_device(msgs: list[Sample], device_id: str) -> list[Sample]:
    return [Sample(device_id, m.timestamp, m.seq, {k: v + 1.0 for k, v in m.values.items()}) for m in msgs]


def test_handle_many_in_runs_of_one_is_exactly_handle() -> None:
    """Alternating devices make every run one sample long: the batch path adds nothing."""
    one, two = samples(600, shift_from=500), _other_device(samples(600, start=7), "pump-2")
    mixed = [m for pair in zip(one, two, strict=True) for m in pair]
    mixed.insert(300, DeviceEvent("pump-1", one[150].timestamp + 1, 99, 0x1001, 120))
    singly, batched = Agent(AgentSettings(), clock=lambda: 1.0), Agent(AgentSettings(), clock=lambda: 1.0)
    expected = [p.model_dump_json() for m in mixed for p in singly.handle(m)]
    pairs = [mixed[i : i + 2] for i in range(0, len(mixed), 2)]
    got = [p.model_dump_json() for pair in pairs for p in batched.handle_many(pair)]
    assert sorted(got) == sorted(expected)


def test_handle_many_batches_still_raise_with_the_causing_samples_evidence() -> None:
    agent = Agent(AgentSettings(), clock=lambda: 42.0)
    msgs = samples(600, shift_from=500)
    batches = [msgs[i : i + 64] for i in range(0, 600, 64)]
    out = [p for b in batches for p in agent.handle_many(b)]
    alerts = [m for m in out if isinstance(m, AlertMessage)]
    assert alerts and alerts[0].transition == "raise"
    raised = alerts[0]
    assert 500 <= (raised.at - 1_767_225_600.0) / 60 < 520
    assert raised.evidence[-1].t == raised.at and raised.evidence[-1].score == raised.score
    assert len([m for m in out if m.kind == "summary"]) == 599  # one per closed minute, as one by one


def test_handle_many_keeps_devices_apart() -> None:
    """A device's outputs do not depend on which other devices shared its batches."""
    one, two = samples(600, shift_from=500), _other_device(samples(600, start=3), "pump-2")
    alone = Agent(AgentSettings(), clock=lambda: 1.0)
    expected = [p.model_dump_json() for i in range(0, 600, 50) for p in alone.handle_many(one[i : i + 50])]
    shared = Agent(AgentSettings(), clock=lambda: 1.0)
    mixed = [p for i in range(0, 600, 50) for p in shared.handle_many(one[i : i + 50] + two[i : i + 50])]
    assert [p.model_dump_json() for p in mixed if p.device_id == "pump-1"] == expected


def test_a_part_that_barely_wears_has_no_forecast_rather_than_one_for_the_year_13000() -> None:
    tracker = ConsumableTracker(life=100_000.0)
    t0 = 1_767_225_600.0
    est = None
    for day in range(30):
        est = tracker.update(t0 + day * 86400, 1.0 + day * 1e-4)  # 0.003 units a month of 100,000
    assert est is not None and est.predicted_depletion_at is None and est.ci is None
    assert 0.99 < est.remaining_fraction <= 1.0


def test_forecasts_within_the_horizon_keep_their_interval_clipped() -> None:
    from edge.forecast import HORIZON_S, bounded

    now = 1_767_225_600.0
    assert bounded(now, now + 86400, (now, now + 2 * HORIZON_S)) == (now + 86400, (now, now + HORIZON_S))
    assert bounded(now, now + 2 * HORIZON_S, (now, now + 3 * HORIZON_S)) == (None, None)
    assert bounded(now, float("nan"), None) == (None, None)


def test_a_service_visit_reported_by_the_device_starts_a_new_health_baseline() -> None:
    agent = Agent(AgentSettings())
    run(agent, samples(3000, shift_from=2000))  # a lasting change two days in: wear, not noise
    pipe = agent.devices["pump-1"].pipeline
    assert pipe.degradation.frozen and pipe.trend.tracker.buckets
    run(agent, [DeviceEvent("pump-1", 1_767_225_600.0 + 60 * 3000, 3000, 0x0003, 10)])  # service_done
    assert not pipe.degradation.frozen  # learning the machine as the engineer left it
    after = [m for m in run(agent, samples(200, start=3001, shift_from=0)) if isinstance(m, AlertMessage)]
    assert all(a.cause == "surprise" for a in after)  # no trend alert against the old baseline


def test_theil_sen_agrees_with_scipy_including_ties() -> None:
    import numpy as np
    from scipy.stats import theilslopes

    from edge.health import _theil_sen

    rng = np.random.default_rng(0)
    for n in (2, 5, 40, 97):
        x = np.sort(rng.choice(np.arange(300.0) * 3600, n, replace=False))
        for y in (rng.normal(size=n).cumsum(), np.round(rng.normal(size=n), 1), np.zeros(n)):
            assert np.allclose(_theil_sen(x, y), theilslopes(y, x, alpha=0.90), equal_nan=True)


def test_a_window_cut_short_by_a_restart_and_the_completed_one_are_two_summaries() -> None:
    """Issue 15: a graceful restart mid-window flushed a partial summary whose id the completed
    window then reused, so the cloud kept the partial one and dropped the whole."""
    settings = AgentSettings(summary_every_s=3600.0)
    agent = Agent(settings)
    run(agent, samples(20))  # 20 minutes into an hour's window
    (partial,) = [m for m in agent.flush() if m.kind == "summary"]
    restored = Agent(settings)
    restored.restore(agent.checkpoint(only_dirty=False))
    run(restored, samples(20))  # the same first 20 minutes, replayed after the restart
    completed = [m for m in run(restored, samples(60, start=20)) if m.kind == "summary"]
    assert completed and completed[0].window_start == partial.window_start
    assert completed[0].message_id != partial.message_id
    assert completed[0].channels["vibration_rms"].count > partial.channels["vibration_rms"].count


def test_summaries_go_on_after_the_device_clock_jumps_ahead_and_back() -> None:
    """Issue 15: a clock that jumped forward (less than a day: not clamped by the gate) and
    came back held the summary window in the future, and no summaries went out after it."""
    agent = Agent(AgentSettings(summary_every_s=600.0))
    normal = samples(30)  # minutes 0..29
    ahead = [Sample(s.device_id, s.timestamp + 6 * 3600, s.seq, s.values) for s in samples(2, start=30)]
    back = samples(40, start=32)  # the clock is right again: minutes 32..71
    out = [m for m in run(agent, [*normal, *ahead, *back]) if m.kind == "summary"]
    starts = [m.window_start - normal[0].timestamp for m in out]
    assert any(st > 3600 for st in starts)  # the window of the jump went out...
    assert [st for st in starts if st < 3600][-1] >= 3000  # ...and the windows after it too
