"""Pure rules: priority and SLA, the state machine, distance and dispatch ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.errors import IllegalTransition
from cloud.services.dispatch import Candidate, Job, haversine_km, rank
from cloud.services.lifecycle import LIVE, Action, Status, allowed_actions, next_status
from cloud.services.priority import SLA, deadlines_for, priority_for, raise_priority

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("severity", "ttf", "tier", "warranty", "expected"),
    [
        ("critical", timedelta(hours=10), "gold", True, 1),
        ("critical", None, "standard", False, 3),
        ("major", timedelta(days=2), "silver", False, 2),
        ("warning", timedelta(days=30), "standard", False, 4),
        ("warning", None, "gold", True, 3),
        ("major", timedelta(days=10), "gold", False, 2),
    ],
)
def test_priority_table(
    severity: str, ttf: timedelta | None, tier: str, warranty: bool, expected: int
) -> None:
    assert priority_for(severity, ttf, tier, warranty) == expected


@given(
    st.sampled_from(["warning", "major", "critical"]),
    st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))),
    st.sampled_from(["gold", "silver", "standard"]),
    st.booleans(),
)
def test_priority_is_monotone_in_each_fact(
    severity: str, ttf: timedelta | None, tier: str, warranty: bool
) -> None:
    p = priority_for(severity, ttf, tier, warranty)
    assert 1 <= p <= 4
    worse = {"warning": "major", "major": "critical", "critical": "critical"}[severity]
    assert priority_for(worse, ttf, tier, warranty) <= p
    assert priority_for(severity, ttf, tier, True) <= p
    assert priority_for(severity, timedelta(hours=1), tier, warranty) <= p


def test_sla_deadlines_tighten_with_priority() -> None:
    for p in (1, 2, 3):
        assert SLA[p].response < SLA[p + 1].response and SLA[p].resolution < SLA[p + 1].resolution
    assert deadlines_for(1, NOW) == (NOW + timedelta(hours=2), NOW + timedelta(hours=8))
    assert raise_priority(1) == 1 and raise_priority(3) == 2


def test_state_machine_happy_path_and_refusals() -> None:
    path = [
        ("open", "assign", "assigned"),
        ("assigned", "accept", "accepted"),
        ("accepted", "start", "in_progress"),
        ("in_progress", "resolve", "resolved"),
        ("resolved", "close", "closed"),
    ]
    for before, action, after in path:
        assert next_status(before, action) == after
    assert next_status("assigned", "decline") == "open"
    assert next_status("resolved", "reopen") == "open"
    with pytest.raises(IllegalTransition, match="cannot start a work order that is open"):
        next_status("open", "start")
    for terminal in ("closed", "cancelled"):
        assert allowed_actions(terminal) == []
    with pytest.raises(IllegalTransition):
        next_status("open", "fly")


@given(st.lists(st.sampled_from(list(Action)), max_size=30))
def test_any_action_sequence_stays_in_known_states(actions: list[Action]) -> None:
    status = Status.OPEN
    for action in actions:
        if action in allowed_actions(status):
            status = next_status(status, action)
        else:
            with pytest.raises(IllegalTransition):
                next_status(status, action)
    assert status in set(Status)
    assert (status in LIVE) == (status not in (Status.CLOSED, Status.CANCELLED))


def test_haversine_known_distance() -> None:
    # Munich to Berlin is about 504 km on the great circle
    assert haversine_km(48.1372, 11.5756, 52.5200, 13.4050) == pytest.approx(504, abs=3)


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(-80, 80), st.floats(-179, 179))
def test_haversine_is_a_metric_on_pairs(a: float, b: float, c: float, d: float) -> None:
    assert haversine_km(a, b, c, d) == pytest.approx(haversine_km(c, d, a, b), abs=1e-6)
    assert haversine_km(a, b, a, b) == pytest.approx(0, abs=1e-6)
    assert 0 <= haversine_km(a, b, c, d) <= 20_016


def _cand(
    eid: int,
    lat: float = 48.0,
    *,
    models: set[str] = frozenset(),
    cats: set[str] = frozenset(),  # type: ignore[assignment]
    load: int = 0,
    capacity: int = 5,
    hours: tuple[int, int] = (8, 17),
) -> Candidate:
    return Candidate(
        eid, f"e{eid}", lat, 11.0, capacity, load, hours[0], hours[1], frozenset(models), frozenset(cats)
    )


JOB = Job(device_id=7, model="AC-3500", category="refrigerant", latitude=48.0, longitude=11.0)


def test_skill_outweighs_a_short_drive() -> None:
    skilled_far = _cand(1, 48.5, models={"AC-3500"}, cats={"refrigerant"})  # ~55 km
    unskilled_near = _cand(2, 48.0)
    ranked = rank([unskilled_near, skilled_far], JOB, NOW)
    assert [r.engineer_id for r in ranked] == [1, 2]
    assert ranked[0].facts["knows_model"] and ranked[0].facts["distance_km"] == pytest.approx(55.6, abs=0.5)


def test_full_engineers_and_excluded_ones_are_not_candidates() -> None:
    full = _cand(1, models={"AC-3500"}, cats={"refrigerant"}, load=5)
    declined = _cand(2, models={"AC-3500"}, cats={"refrigerant"})
    free = _cand(3)
    assert [r.engineer_id for r in rank([full, declined, free], JOB, NOW, exclude={2})] == [3]


def test_recent_service_and_track_record_break_a_tie() -> None:
    a, b = (
        _cand(1, models={"AC-3500"}, cats={"refrigerant"}),
        _cand(2, models={"AC-3500"}, cats={"refrigerant"}),
    )
    assert rank([b, a], JOB, NOW)[0].engineer_id == 1  # equal: lower id, reproducibly
    b.last_serviced[7] = NOW - timedelta(days=30)
    assert rank([a, b], JOB, NOW)[0].engineer_id == 2
    b.last_serviced[7] = NOW - timedelta(days=120)  # older than 3 months: no longer counts
    a.record[("AC-3500", "refrigerant")] = (8, 8)
    assert rank([a, b], JOB, NOW)[0].engineer_id == 1


def test_working_hours_including_a_night_shift() -> None:
    day, night = _cand(1, hours=(8, 17)), _cand(2, hours=(22, 6))
    at_night = NOW.replace(hour=23)
    scores = {r.engineer_id: r.factors["on_shift"] for r in rank([day, night], JOB, at_night)}
    assert scores == {1: 0.0, 2: 1.0}


def test_explanation_names_weights_factors_and_runners_up() -> None:
    ranked = rank([_cand(1, models={"AC-3500"}, cats={"refrigerant"}), _cand(2)], JOB, NOW)
    doc = ranked[0].explanation(ranked[1:], NOW)
    assert doc["engineer_id"] == 1 and doc["runners_up"][0]["engineer_id"] == 2
    assert doc["score"] == pytest.approx(
        sum(doc["weights"][k] * v for k, v in doc["factors"].items()), abs=1e-3
    )
