from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.policy import AlertPolicy, Severity, TransitionKind
from edge.trend import TrendPolicy

HOT, COLD, WARM = 0.99999, 0.1, 0.9995


def run(policy: AlertPolicy, scores: list[float], start: float = 0.0, step: float = 60.0) -> list:  # type: ignore[type-arg]
    out = []
    for i, s in enumerate(scores):
        tr = policy.step(start + i * step, s)
        if tr is not None:
            out.append(tr)
    return out


def test_single_spike_is_not_an_alert() -> None:
    assert run(AlertPolicy(), [COLD] * 10 + [HOT] + [COLD] * 10) == []


def test_persistence_raise_then_hysteresis_clear() -> None:
    p = AlertPolicy(k=3, n=5, clear_after=4)
    trs = run(p, [COLD, HOT, COLD, HOT, HOT] + [WARM] * 20 + [COLD] * 4)
    assert [t.kind for t in trs] == [TransitionKind.RAISE, TransitionKind.CLEAR]
    assert trs[0].at == 4 * 60.0  # the third hot score in five


def test_cooldown_blocks_an_immediate_re_raise() -> None:
    p = AlertPolicy(k=3, n=5, clear_after=2, cooldown_s=600, cooldown_rows=0)
    trs = run(p, [HOT] * 3 + [COLD] * 2 + [HOT] * 5 + [COLD] * 10 + [HOT] * 3)
    kinds = [t.kind for t in trs]
    assert kinds == [TransitionKind.RAISE, TransitionKind.CLEAR, TransitionKind.RAISE]
    assert trs[2].at >= trs[1].at + 600


def test_a_device_clock_that_jumped_ahead_and_back_does_not_hold_the_cooldown() -> None:
    """Issue 15: an incident that cleared while the clock was 6 h ahead set a cooldown on that
    clock; back on the right time the next real fault was not alerted for 6 hours."""
    p = AlertPolicy(k=3, n=5, clear_after=2, cooldown_s=600, cooldown_rows=0)
    ahead = 6 * 3600.0
    t = [0.0, 60.0, 120.0, ahead + 180, ahead + 240] + [300.0 + 60 * i for i in range(40)]
    scores = [HOT, HOT, HOT, COLD, COLD] + [COLD] * 15 + [HOT] * 5 + [COLD] * 20
    trs = [tr for ti, sc in zip(t, scores, strict=True) if (tr := p.step(ti, sc)) is not None]
    kinds = [tr.kind for tr in trs]
    assert kinds[:3] == [TransitionKind.RAISE, TransitionKind.CLEAR, TransitionKind.RAISE]
    assert trs[2].at < 3600  # the second fault raised on the corrected clock, not 6 h later


@pytest.mark.parametrize("step", [1.0, 60.0, 3600.0])
def test_the_cooldown_is_at_least_thirty_sampling_intervals_at_any_rate(step: float) -> None:
    """The same default holds at 1 s and at 1 h sampling: never re-raised within 30 rows."""
    p = AlertPolicy(k=3, n=5, clear_after=2, cooldown_s=60)
    trs = run(p, [COLD] * 40 + [HOT] * 3 + [COLD] * 2 + [HOT] * 80, step=step)
    raises = [t.at for t in trs if t.kind is TransitionKind.RAISE]
    assert len(raises) == 2
    assert raises[1] - raises[0] >= max(60.0, 30 * step)


def test_a_fault_seen_only_while_a_machine_runs_in_bursts_is_raised() -> None:
    bursts = ([HOT] + [COLD] * 3) * 4  # hot one sample in four: never 3 in a row
    assert [t.kind for t in run(AlertPolicy(), [COLD] * 10 + bursts)] == [TransitionKind.RAISE]
    assert run(AlertPolicy(k=3, n=5), [COLD] * 10 + bursts) == []


def test_severity_rises_by_update_only() -> None:
    p = AlertPolicy(k=3, n=5)
    trs = run(p, [0.99995] * 3 + [0.9999995] * 2 + [0.99995] * 3)
    assert [(t.kind, t.severity) for t in trs] == [
        (TransitionKind.RAISE, Severity.WARNING),
        (TransitionKind.UPDATE, Severity.CRITICAL),
    ]


@given(st.lists(st.floats(0, 1), max_size=300))
def test_transitions_alternate_and_state_round_trips(scores: list[float]) -> None:
    p = AlertPolicy(cooldown_s=120)
    active = False
    for i, s in enumerate(scores):
        if i == len(scores) // 2:  # checkpoint and restore halfway: nothing changes
            q = AlertPolicy(cooldown_s=120)
            q.restore(p.state())
            p = q
        tr = p.step(i * 60.0, s)
        if tr is None:
            continue
        if tr.kind is TransitionKind.RAISE:
            assert not active
            active = True
        else:
            assert active
            active = tr.kind is not TransitionKind.CLEAR
    assert active == p.active


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        AlertPolicy(raise_at=0.9, clear_at=0.95)


def _keys(steps: list) -> list:  # type: ignore[type-arg]
    return [(i, tr.kind, tr.at, tr.score, tr.peak, tr.severity, tr.cause) for i, tr in steps]


scores_and_cut = st.tuples(
    st.lists(st.sampled_from([0.1, 0.98, 0.995, 0.9995, 0.99995, 0.9999995, 1.0]), min_size=1, max_size=400),
    st.integers(0, 400),
)


@given(scores_and_cut)
def test_alert_policy_gives_the_same_transitions_in_any_batch_size(case: tuple[list[float], int]) -> None:
    scores, cut = case
    cut = min(cut, len(scores))
    t = np.arange(len(scores)) * 60.0
    s = np.array(scores)
    whole = AlertPolicy().run(t, s)
    halves = AlertPolicy()
    first, second = halves.run(t[:cut], s[:cut]), halves.run(t[cut:], s[cut:])
    assert (np.concatenate([first.active, second.active]) == whole.active).all()
    shifted = first.transitions + [(i + cut, tr) for i, tr in second.transitions]
    assert _keys(shifted) == _keys(whole.transitions)
    one = AlertPolicy()
    by_row = [
        (i, tr) for i, (ti, si) in enumerate(zip(t, s, strict=True)) if (tr := one.step(ti, si)) is not None
    ]
    assert _keys(by_row) == _keys(whole.transitions)


@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=300),
    st.integers(0, 300),
    st.sampled_from([60.0, 600.0, 3600.0]),
)
def test_trend_policy_gives_the_same_transitions_in_any_batch_size(
    health: list[float], cut: int, step: float
) -> None:
    cut = min(cut, len(health))
    t = np.arange(len(health)) * step
    h = np.array(health)
    ready = np.arange(len(h)) >= 3
    whole = TrendPolicy(raise_s=3 * step, clear_s=3 * step).run(t, h, ready)
    halves = TrendPolicy(raise_s=3 * step, clear_s=3 * step)
    first, second = halves.run(t[:cut], h[:cut], ready[:cut]), halves.run(t[cut:], h[cut:], ready[cut:])
    assert (np.concatenate([first.active, second.active]) == whole.active).all()
    shifted = first.transitions + [(i + cut, tr) for i, tr in second.transitions]
    assert _keys(shifted) == _keys(whole.transitions)


def test_the_trend_is_still_judged_after_the_tracker_window_is_full() -> None:
    """The forecast is re-judged every closed hour, also past the 96 hours the tracker keeps
    (it once counted the kept buckets, which stop growing there, and went blind after 4 days)."""
    hours = 24 * 12
    t = np.arange(hours * 6) * 600.0
    wear_from = 24 * 8 * 6  # healthy for 8 days, then wearing out over 2 days
    h = np.where(np.arange(len(t)) < wear_from, 1.0, 1.0 - (np.arange(len(t)) - wear_from) / (2 * 24 * 6))
    steps = TrendPolicy(raise_s=1e9).run(t, np.clip(h, 0.0, 1.0), np.ones(len(t), dtype=bool))
    raised = [tr for _, tr in steps.transitions if tr.kind is TransitionKind.RAISE]
    assert raised and wear_from * 600 < raised[0].at < (wear_from + 2 * 24 * 6) * 600
