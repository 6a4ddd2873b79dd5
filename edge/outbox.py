"""Durable, ordered, bounded store-and-forward queue for edge -> cloud messages (SQLite, WAL).

Every message is written here *before* anyone tries to send it, in the same transaction
as the pipeline checkpoint that produced it, so a SIGKILL at any point leaves either
both or neither. The uplink sends rows in insertion order. A row the broker has
acknowledged (QoS 1 PUBACK) is only *published*: it stays until the cloud confirms it has
stored that message id (:meth:`Outbox.confirm`), because a broker may still lose it (its
queue for an absent cloud overflows, it crashes between autosaves). Published rows the
cloud has not confirmed in time are sent again (:meth:`Outbox.requeue`). Delivery is
at-least-once end to end; the deterministic ``message_id`` lets the cloud drop the
duplicates. (With ``confirm_by_cloud=False``, for a broker with no Prognos cloud behind
it, the PUBACK removes the row, as plain MQTT store-and-forward does.)

Size policy: at most ``max_rows`` unsent rows. When a write would exceed that, the
oldest *telemetry summaries* are dropped first (and counted in ``dropped_summaries``);
alerts, clears, fault events and consumable statuses are never dropped, so the bound can
be exceeded by those alone, and that is logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .pending import PendingMessage

__all__ = ["Outbox", "OutboxRow", "PendingMessage"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created    REAL NOT NULL,
    published  REAL             -- when the broker acked it; NULL: (again) to be sent
);
CREATE TABLE IF NOT EXISTS checkpoint (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
_INSERT = "INSERT OR IGNORE INTO outbox (message_id, kind, topic, payload, created) VALUES (?,?,?,?,?)"
_DROP_OLDEST_SUMMARIES = (
    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = 'summary' ORDER BY seq LIMIT ?)"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    message_id: str
    kind: str
    topic: str
    payload: bytes


class Outbox:
    """One SQLite file; safe to use from several threads (one connection, one lock)."""

    def __init__(self, path: Path, max_rows: int = 100_000) -> None:
        self.path = path
        self.max_rows = max_rows
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process kill
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "published" not in columns:  # an outbox written before end-to-end confirmation
            self._db.execute("ALTER TABLE outbox ADD COLUMN published REAL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, messages: Iterable[PendingMessage], checkpoint: dict[str, bytes] | None = None) -> int:
        """Store messages (ignoring ids already stored) and checkpoints atomically; returns rows added."""
        rows = [(m.message_id, m.kind, m.topic, m.payload, m.created) for m in messages]
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                cur.executemany(_INSERT, rows)
                added = self._db.total_changes - before
                for key, value in (checkpoint or {}).items():
                    cur.execute("INSERT OR REPLACE INTO checkpoint (key, value) VALUES (?, ?)", (key, value))
                self._enforce_bound(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return added

    def _enforce_bound(self, cur: sqlite3.Cursor) -> None:
        (n,) = cur.execute("SELECT COUNT(*) FROM outbox").fetchone()
        excess = n - self.max_rows
        if excess <= 0:
            return
        cur.execute(_DROP_OLDEST_SUMMARIES, (excess,))
        dropped = cur.rowcount
        if dropped:
            cur.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped_summaries', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
        if excess > dropped:
            log.warning(
                "outbox holds %d rows over its bound of %d: alerts are never dropped",
                excess - dropped,
                self.max_rows,
            )

    def pending(self, limit: int = 100, after_seq: int = 0) -> list[OutboxRow]:
        """Rows to send, in insertion order, starting after ``after_seq``: never published,
        or published and requeued because the cloud did not confirm them."""
        with self._lock:
            cur = self._db.execute(
                "SELECT seq, message_id, kind, topic, payload FROM outbox "
                "WHERE seq > ? AND published IS NULL ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            return [OutboxRow(*r) for r in cur.fetchall()]

    def published(self, seqs: Iterable[int], at: float) -> None:
        """The broker acknowledged these rows: they wait for the cloud's confirmation."""
        with self._lock:
            self._db.executemany("UPDATE outbox SET published = ? WHERE seq = ?", [(at, s) for s in seqs])

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget rows (the broker's PUBACK is all the confirmation there will be)."""
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def confirm(self, message_ids: Iterable[str]) -> int:
        """The cloud has these messages (or refused them for good): they are done. How many
        rows that removed (a confirmation may repeat, or name what a restart resent)."""
        with self._lock:
            before = self._db.total_changes
            self._db.executemany("DELETE FROM outbox WHERE message_id = ?", [(m,) for m in message_ids])
            return self._db.total_changes - before

    def requeue(self, published_before: float) -> int:
        """Send again what was published before then and is still unconfirmed; how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET published = NULL WHERE published IS NOT NULL AND published < ?",
                (published_before,),
            )
            return cur.rowcount

    def awaiting(self) -> int:
        """Rows published and not yet confirmed by the cloud."""
        query = "SELECT COUNT(*) FROM outbox WHERE published IS NOT NULL"
        with self._lock:
            return int(self._db.execute(query).fetchone()[0])

    def size(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def checkpoints(self) -> dict[str, bytes]:
        with self._lock:
            return {k: bytes(v) for k, v in self._db.execute("SELECT key, value FROM checkpoint").fetchall()}
