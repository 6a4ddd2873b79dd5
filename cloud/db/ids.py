"""Primary keys taken from the database before the rows are written.

A work order's id goes into the hash of its first history event, so the ORM would have to
flush the order alone to learn it: a round trip per order on a busy ingest batch. On
PostgreSQL the ids come from the table's own sequence, a block at a time, in one query;
whatever a batch reserves and does not use is a gap, as after any rollback. Other engines
(SQLite) have no sequence to draw from and return None: the caller flushes as before.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["reserve_ids"]


def reserve_ids(session: Session, table: str, n: int) -> list[int] | None:
    """``n`` fresh ids of ``table``'s integer ``id`` column, or None where the engine cannot."""
    if n <= 0 or session.get_bind().dialect.name != "postgresql":
        return None
    query = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
    return [int(i) for i in session.scalars(query, {"table": table, "n": n})]
