"""Schema pieces every resource shares: the page envelope and the ORM-reading base."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Page", "Public", "RowId", "Strict"]


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    """Responses read straight from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")

#: a row id in a request body: bounded like the database column (see cloud/api/params.py)
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
