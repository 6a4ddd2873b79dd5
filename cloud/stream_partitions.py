"""Which cloud worker owns which partition of the edge stream (pure: no NATS here).

The stream keys every message by its agent (tenant + agent id, the subject's first two
wildcards) into one of N partitions; a device belongs to one agent, so keeping each
partition's order keeps each device's order. Each partition is read by one worker at a
time. Workers agree on who owns what without talking to each other: each sees the same
set of live members and computes the same :func:`assignment`; ownership itself is a lease
in the stream's key-value bucket (:mod:`cloud.ingest_stream`), so two workers whose views
differ for a moment still cannot read one partition together.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PARTITION_PREFIX", "assignment", "partition_of_subject", "partition_subject", "topic_of"]

PARTITION_PREFIX = "prognos.p"


def assignment(partitions: int, members: Iterable[str]) -> dict[str, list[int]]:
    """Partitions dealt round-robin over the members in sorted order: every partition has
    exactly one owner and the shares differ by at most one. Sorting makes the answer the
    same on every worker that sees the same members."""
    ordered = sorted(set(members))
    owners: dict[str, list[int]] = {m: [] for m in ordered}
    if not ordered:
        return owners
    for p in range(partitions):
        owners[ordered[p % len(ordered)]].append(p)
    return owners


def partition_subject(partition: int) -> str:
    """The subjects one partition's consumer reads."""
    return f"{PARTITION_PREFIX}.{partition}.>"


def partition_of_subject(subject: str) -> int | None:
    """The partition a stored subject is in, or None for a subject outside the partitions."""
    head, sep, rest = subject.partition(PARTITION_PREFIX + ".")
    if head or not sep:
        return None
    number = rest.split(".", 1)[0]
    return int(number) if number.isdigit() else None


def topic_of(subject: str) -> str:
    """The MQTT topic a stored subject carries: the partition prefix dropped, NATS's ``.``
    back to MQTT's ``/``."""
    if partition_of_subject(subject) is not None:
        subject = subject.split(".", 3)[3]
    return subject.replace(".", "/")
