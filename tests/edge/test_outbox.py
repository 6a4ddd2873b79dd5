from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from edge.outbox import Outbox, PendingMessage


def msg(i: int, kind: str = "summary") -> PendingMessage:
    return PendingMessage(f"id-{kind}-{i:06d}", kind, f"t/{kind}", f"payload {i}".encode(), float(i))


def test_in_order_idempotent_and_deleted_on_ack(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    assert box.add([msg(1), msg(2, "alert"), msg(3)]) == 3
    assert box.add([msg(2, "alert")]) == 0  # same id: stored once
    rows = box.pending()
    assert [r.message_id for r in rows] == ["id-summary-000001", "id-alert-000002", "id-summary-000003"]
    box.remove([rows[0].seq])
    assert [r.seq for r in box.pending(after_seq=rows[1].seq)] == [rows[2].seq]
    assert box.size() == 2


def test_bound_drops_oldest_summaries_never_alerts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=100)
    box.add([msg(i, "alert") for i in range(60)])
    box.add([msg(i) for i in range(80)])
    assert box.size() == 100
    assert box.counter("dropped_summaries") == 40
    kinds = [r.kind for r in box.pending(limit=1000)]
    assert kinds.count("alert") == 60 and kinds.count("summary") == 40
    assert box.pending(limit=1000)[-1].message_id == "id-summary-000079"  # the newest kept
    box.add([msg(1000 + i, "alert") for i in range(60)])  # alerts alone may exceed the bound
    assert sum(r.kind == "alert" for r in box.pending(limit=1000)) == 120


def test_checkpoint_is_atomic_with_messages(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add([msg(1, "alert")], {"device/a": b"state-1"})
    with pytest.raises(sqlite3.ProgrammingError):  # the checkpoint fails: the message is not kept either
        box.add([msg(2, "alert")], {"device/a": object()})  # type: ignore[dict-item]
    assert box.checkpoints() == {"device/a": b"state-1"}
    assert [r.message_id for r in box.pending()] == ["id-alert-000001"]


def _writer(path: str, n: int) -> None:
    box = Outbox(Path(path))
    for i in range(n):
        box.add([msg(i, "alert")], {"device/x": str(i).encode()})


def test_survives_sigkill_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    proc = multiprocessing.get_context("fork").Process(target=_writer, args=(str(path), 1_000_000))
    proc.start()
    while not path.exists() or os.path.getsize(path) < 8192:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    box = Outbox(path)
    rows = box.pending(limit=10_000_000)
    n = len(rows)
    assert n > 0
    assert [r.message_id for r in rows] == [f"id-alert-{i:06d}" for i in range(n)]  # a prefix, no holes
    assert box.checkpoints()["device/x"] == str(n - 1).encode()  # state matches the last message


def test_a_published_row_waits_for_the_clouds_confirmation_and_is_resent_without_it(tmp_path: Path) -> None:
    """The broker's PUBACK is not the end: a broker may still lose the message (issue 15)."""
    box = Outbox(tmp_path / "o.sqlite")
    box.add([msg(1, "alert"), msg(2, "alert"), msg(3)])
    rows = box.pending()
    box.published([r.seq for r in rows], at=100.0)
    assert box.pending() == [] and box.size() == 3 and box.awaiting() == 3
    assert box.confirm(["id-alert-000001", "id-unknown-000000"]) == 1  # a stray id changes nothing
    assert box.size() == 2 and box.confirm(["id-alert-000001"]) == 0  # a repeated confirmation neither
    assert box.requeue(published_before=100.0) == 0  # not old enough yet
    assert box.requeue(published_before=160.0) == 2
    assert [r.message_id for r in box.pending()] == ["id-alert-000002", "id-summary-000003"]  # in order
    assert box.awaiting() == 0


def test_an_outbox_from_before_confirmations_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,"
        " kind TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL);"
        "INSERT INTO outbox (message_id, kind, topic, payload, created)"
        " VALUES ('id-old-1', 'alert', 't', x'00', 1);"
    )
    db.commit()
    db.close()
    assert [r.message_id for r in Outbox(path).pending()] == ["id-old-1"]
