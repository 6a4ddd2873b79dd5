"""Prognos: the ``prognos`` command and the helpers that start local infrastructure."""

from __future__ import annotations

__version__ = "0.1.0"
