"""CPU and memory of running processes from /proc, for benchmarks that start several.

A process counts with its descendants (PostgreSQL serves each connection from a child), so
a figure is what that role costs the machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcSample", "sample"]

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_s: float  # user + system CPU seconds so far, with descendants
    rss_mb: float  # resident memory now, with descendants


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, or None when it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample(pids: dict[str, int]) -> dict[str, ProcSample]:
    """Each named process (with its descendants) now."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            got = _stat(int(entry.name))
            if got is not None:
                parents[int(entry.name)], cpu[int(entry.name)] = got
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    out = {}
    for name, root in pids.items():
        tree, todo = [], [root]
        while todo:
            pid = todo.pop()
            if pid in cpu:
                tree.append(pid)
                todo.extend(children.get(pid, ()))
        out[name] = ProcSample(sum(cpu[p] for p in tree), sum(_rss_mb(p) for p in tree))
    return out
