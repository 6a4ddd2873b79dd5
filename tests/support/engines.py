"""What a test does when a real engine it needs is not installed."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["engine_missing"]


def engine_missing(what: str, install: str) -> NoReturn:
    """Skip locally; fail in CI, where a missing engine is a broken install step."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but is not installed")
    pytest.skip(f"{what} is not installed ({install})")
