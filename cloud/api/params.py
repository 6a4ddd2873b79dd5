"""Query and path parameter types shared by every router.

Bounds matter: an id or offset past what the database's integer holds would otherwise
reach the driver and fail as a server error instead of a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

__all__ = ["MAX_ID", "Limit", "Offset", "PathId", "QueryId"]

MAX_ID = 2**31 - 1  # PostgreSQL's integer, which every id column is

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
