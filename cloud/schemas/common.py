"""Schema pieces every resource shares: the page envelope and the ORM-reading base."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Latitude", "Longitude", "Page", "Public", "RowId", "Strict", "WholeNumber"]


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Public(BaseModel):
    """Responses read straight from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")

#: a row id in a request body: bounded like the database column (see cloud/api/params.py);
#: strict, so ``true`` is not engineer 1
RowId = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
#: numbers in request bodies are numbers: ``false`` is not latitude 0.0, nor "5" a capacity
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True, allow_inf_nan=False)]
WholeNumber = Annotated[int, Field(strict=True)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
