from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import MessageGate, Sample, SequenceTracker, SeqVerdict, device_topic, parse_device_topic
from firmware_bridge.topics import DeviceTopic
from mqtt_client import BrokerAddress, parse_broker


def verdicts(seqs: list[int]) -> list[SeqVerdict]:
    tracker = SequenceTracker()
    return [tracker.observe("d", s) for s in seqs]


def test_sequence_verdicts() -> None:
    V = SeqVerdict
    assert verdicts([5, 6, 9, 9, 7, 10]) == [V.FIRST, V.NEXT, V.GAP, V.DUPLICATE, V.DUPLICATE, V.NEXT]
    assert verdicts([100, 101, 0, 1]) == [V.FIRST, V.NEXT, V.RESTART, V.NEXT]
    assert verdicts([2**32 - 1, 0, 1]) == [V.FIRST, V.NEXT, V.NEXT]  # wrap-around is not a restart


def test_sequence_stats_per_device() -> None:
    tracker = SequenceTracker()
    for s in (1, 2, 5, 5, 6):
        tracker.observe("a", s)
    tracker.observe("b", 1)
    assert (tracker.stats.gaps, tracker.stats.missing, tracker.stats.duplicates) == (1, 2, 1)
    assert tracker.stats.per_device["a"] == {"gaps": 1, "missing": 2, "duplicates": 1}
    assert "b" not in tracker.stats.per_device


@given(st.lists(st.integers(0, 50), min_size=1, max_size=200))
def test_sequence_never_passes_the_same_number_twice_in_a_row(seqs: list[int]) -> None:
    tracker = SequenceTracker(restart_below=0)  # no restarts: every pass must move forward
    passed = [s for s in seqs if tracker.observe("d", s) is not SeqVerdict.DUPLICATE]
    assert passed == sorted(set(passed)) and len(passed) == len(set(passed))


def test_a_restart_is_told_from_a_replay_by_the_message_time() -> None:
    """Issue 15: a device whose counter restarted above 16 (its first messages after the
    reboot lost) was dropped as "duplicate" until it passed the old value: 651 samples and
    two faults silenced. A restart moves on in time; a replay carries its old time."""
    V, tracker = SeqVerdict, SequenceTracker()
    seen = [tracker.observe("d", seq, at) for seq, at in [(700, 1000.0), (701, 1001.0)]]
    assert seen == [V.FIRST, V.NEXT]
    assert tracker.observe("d", 40, 1500.0) is V.RESTART  # rebooted; 0..39 never arrived
    assert tracker.observe("d", 41, 1501.0) is V.NEXT
    assert tracker.observe("d", 700, 1000.0) is V.DUPLICATE  # a replay of an old message
    assert tracker.observe("d", 41, 1501.0) is V.DUPLICATE  # a retransmission


def test_the_tracker_carries_over_an_edge_restart() -> None:
    """A replay right after the edge restarts is still a replay (the gate used to start empty)."""
    before = SequenceTracker()
    for seq in range(1, 50):
        before.observe("d", seq, 1000.0 + seq)
    after = SequenceTracker()
    after.restore(json.loads(json.dumps(before.state())))
    assert after.observe("d", 30, 1030.0) is SeqVerdict.DUPLICATE
    assert after.observe("d", 50, 1050.0) is SeqVerdict.NEXT


@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 100)), min_size=1, max_size=200))
def test_a_retransmission_never_passes(msgs: list[tuple[int, float]]) -> None:
    """Whatever came before, the same message twice in a row passes at most once."""
    tracker = SequenceTracker()
    for m in msgs:
        tracker.observe("d", *m)
        assert tracker.observe("d", *m) is SeqVerdict.DUPLICATE


def test_gate_blanks_impossible_values_and_drops_duplicates() -> None:
    gate = MessageGate(max_abs_value=1e6)
    s1 = Sample("d", 1.0, 1, {"a": 1.0, "b": 1e12, "c": math.inf, "d": math.nan})
    out = gate.admit(s1)
    assert isinstance(out, Sample)
    assert out.values["a"] == 1.0 and all(math.isnan(out.values[k]) for k in "bcd")
    assert gate.out_of_range == 2
    assert gate.admit(s1) is None
    gate.reject("json")
    assert gate.snapshot()["dropped"] == {"duplicate": 1, "json": 1}


def test_topics() -> None:
    topic = device_topic("acme", "pump-0001")
    assert topic == "prognos/v1/acme/pump-0001/telemetry"
    assert parse_device_topic(topic) == DeviceTopic("acme", "pump-0001", "telemetry")
    for bad in ("prognos/v2/acme/d/telemetry", "prognos/v1/acme/telemetry", "prognos/v1/ACME/d/telemetry"):
        assert parse_device_topic(bad) is None
    with pytest.raises(ValueError):
        device_topic("acme", "has/slash")


def test_parse_broker() -> None:
    assert parse_broker("127.0.0.1:1884") == BrokerAddress("127.0.0.1", 1884)
    assert parse_broker("broker") == BrokerAddress("broker", 1883)
    for bad in (":1883", "host:port", "host:70000"):
        with pytest.raises(ValueError):
            parse_broker(bad)


def test_a_device_clock_far_in_the_future_is_replaced_by_the_edges_and_counted() -> None:
    """Issue 15: a clock that jumped forward then back held the alert cooldown and the summary
    window in the future (no summaries after it) and would make every later message look old."""
    gate = MessageGate(clock=lambda: 1_800_000_000.0)
    jumped = gate.admit(Sample("d", 1_800_000_000.0 + 365 * 86400, 1, {"a": 1.0}))
    assert jumped is not None and jumped.timestamp == 1_800_000_000.0 and gate.clamped_times == 1
    back = gate.admit(Sample("d", 1_799_999_990.0, 2, {"a": 1.0}))  # the clock is right again
    assert back is not None and back.timestamp == 1_799_999_990.0
    assert gate.admit(Sample("d", 1_799_999_995.0, 4, {"a": 1.0})) is not None  # a gap, not a replay
    assert gate.snapshot()["clamped_times"] == 1


def test_a_device_without_a_real_time_clock_gets_the_edges_time() -> None:
    """A device counting from 1970 would put every window and cooldown 56 years back."""
    gate = MessageGate(clock=lambda: 1_800_000_000.0)
    msg = gate.admit(Sample("d", 3600.0, 1, {"a": 1.0}))  # an hour after boot, 1970-01-01
    assert msg is not None and msg.timestamp == 1_800_000_000.0 and gate.clamped_times == 1
