"""Waiting for a child process's HTTP endpoint to answer 200, the one way the stacks here do."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

__all__ = ["wait_until_ok"]


def wait_until_ok(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Return once ``url`` answers 200; RuntimeError if ``proc`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:g} s")
