"""The partition bookkeeping of the clustered tier (pure): every partition has exactly one
owner, shares differ by at most one, every worker computes the same answer, and a stored
subject maps back to its partition and MQTT topic."""

from __future__ import annotations

from random import Random

from hypothesis import given
from hypothesis import strategies as st

from cloud.stream_partitions import assignment, partition_of_subject, partition_subject, topic_of

members = st.lists(st.text("abcdef-0123456789", min_size=1, max_size=12), max_size=12)


@given(st.integers(min_value=1, max_value=64), members)
def test_every_partition_has_one_owner_and_shares_are_even(partitions: int, names: list[str]) -> None:
    owners = assignment(partitions, names)
    assert set(owners) == set(names)
    dealt = sorted(p for share in owners.values() for p in share)
    if names:
        assert dealt == list(range(partitions)), "each partition exactly once"
        sizes = [len(share) for share in owners.values()]
        assert max(sizes) - min(sizes) <= 1
    else:
        assert dealt == []


@given(st.integers(min_value=1, max_value=64), members, st.randoms())
def test_every_worker_computes_the_same_assignment(partitions: int, names: list[str], rnd: Random) -> None:
    shuffled = list(names)
    rnd.shuffle(shuffled)
    assert assignment(partitions, names) == assignment(partitions, shuffled + names[:1])


def test_a_stored_subject_maps_back_to_its_partition_and_topic() -> None:
    stored = "prognos.p.5.prognos.v1.acme.edge.edge-1.summary"
    assert partition_of_subject(stored) == 5
    assert topic_of(stored) == "prognos/v1/acme/edge/edge-1/summary"
    assert topic_of("prognos.v1.acme.edge.edge-1.summary") == "prognos/v1/acme/edge/edge-1/summary"
    assert partition_of_subject("prognos.v1.acme.edge.edge-1.summary") is None
    assert partition_of_subject("prognos.p.x.prognos.v1") is None
    assert partition_subject(5) == "prognos.p.5.>"
