from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.policy import AlertPolicy, Severity, TransitionKind

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
