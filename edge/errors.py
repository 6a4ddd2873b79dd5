"""Errors the edge raises on purpose, as one tree::

EdgeError
├── TableError        an input file for ``prognos detect`` cannot be used
└── ConfigError       an agent configuration file is invalid
"""

from __future__ import annotations

__all__ = ["ConfigError", "EdgeError"]


class EdgeError(Exception):
    """Base class of the edge's deliberate errors."""


class ConfigError(EdgeError):
    """The agent configuration is missing, unreadable or invalid."""
