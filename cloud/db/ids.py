"""Primary keys taken from the database before the rows are written.

A work order's id goes into the hash of its first history event, so the ORM would have to
flush the order alone to learn it: a round trip per order on a busy ingest batch. On
PostgreSQL the ids come from the table's own sequence, a block at a time, in one query;
whatever a batch reserves and does not use is a gap, as after any rollback. Other engines
(SQLite) have no sequence to draw from and return None: the caller flushes as before.

:func:`ids_before_flush` does the same for rows nobody needs the id of before the flush
(alerts, history events, notifications): a row whose id the database does not have to
return is inserted with the driver's ``executemany``, a statement prepared once, instead
of one long multi-row ``INSERT … RETURNING`` that psycopg parses parameter by parameter.
A lone new row is left to ``RETURNING``: reserving its id would be a round trip more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

__all__ = ["ids_before_flush", "reserve_ids"]


def reserve_ids(session: Session, table: str, n: int) -> list[int] | None:
    """``n`` fresh ids of ``table``'s integer ``id`` column, or None where the engine cannot."""
    if n <= 0 or session.get_bind().dialect.name != "postgresql":
        return None
    query = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
    return [int(i) for i in session.scalars(query, {"table": table, "n": n})]


def ids_before_flush(session: Session, models: Iterable[type[Any]]) -> None:
    """For the rest of this session, give new rows of ``models`` their ids from the sequence
    just before each flush (PostgreSQL only; elsewhere nothing changes)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    wanted = tuple(models)

    def assign(s: Session, flush_context: Any, instances: Any) -> None:
        for model in wanted:
            fresh = [o for o in s.new if type(o) is model and o.id is None]
            if len(fresh) < 2:
                continue
            ids = reserve_ids(s, model.__tablename__, len(fresh)) or []
            for row, new_id in zip(fresh, ids, strict=True):
                row.id = new_id

    event.listen(session, "before_flush", assign)
