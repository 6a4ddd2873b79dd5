"""Peak memory of the current process, as the benchmarks report it.

Its own module with no heavy imports, so a benchmark's child process can use it without
the import itself adding to what it measures.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB. On Linux from /proc (VmHWM), which starts afresh at
    exec; ru_maxrss does not, so a child of a large parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
