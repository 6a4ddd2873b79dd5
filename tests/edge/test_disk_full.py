"""A full disk keeps the agent alive, says so, and delivers once space returns (issue 15:
a full disk crash-looped the edge, and a failing delete in the PUBACK handler killed paho's
network thread: "uplink up, acked 0", nothing delivered).

The disk is made full for real, from SQLite's side: ``PRAGMA max_page_count`` stops the
outbox file from growing, and every write that needs a new page fails with SQLITE_FULL
("database or disk is full"), as on a full filesystem.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.config import EdgeConfig, SourceConfig
from edge.runner import EdgeRunner
from tests.cloud.messages import alert, summary

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def _refusing(runner: EdgeRunner, refuse: bool) -> None:
    """Every write refused (SQLITE_READONLY), also the in-place updates and deletes of the
    PUBACK and confirmation handlers, which ``max_page_count`` does not stop under WAL."""
    runner.outbox._db.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


def _full(runner: EdgeRunner, full: bool) -> None:
    db = runner.outbox._db  # the outbox's own connection: the limit applies to its writes
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages if full else 1_000_000}")


def test_the_agent_keeps_running_while_the_outbox_cannot_be_written(tmp_path: Path) -> None:
    config = EdgeConfig(data_dir=tmp_path, sources=[SourceConfig(kind="serial", port="/dev/null-none")])
    runner = EdgeRunner(config)
    try:
        _full(runner, True)
        alerts = [
            alert("ac-1", "raise", NOW + timedelta(minutes=i), alert_id=f"a{i}", tenant="demo")
            for i in range(200)
        ]
        sums = [summary("ac-1", NOW + timedelta(hours=i), tenant="demo") for i in range(50)]
        runner._store(alerts)  # no exception: the agent goes on
        runner._store(sums)
        stats = runner.stats()
        assert stats["outbox_failing"] and stats["waiting_in_memory"] == 250
        _full(runner, False)  # space is back
        runner._store([])  # the next loop's write takes what waited
        assert runner.outbox.size() == 250 and not runner.stats()["outbox_failing"]
    finally:
        runner.uplink.client.loop_stop()
        runner.outbox.close()


def test_the_uplinks_network_thread_survives_a_write_the_disk_refuses(tmp_path: Path) -> None:
    config = EdgeConfig(data_dir=tmp_path, sources=[SourceConfig(kind="serial", port="/dev/null-none")])
    runner = EdgeRunner(config)
    try:
        runner._store([alert("ac-1", "raise", NOW, tenant="demo")])
        (row,) = runner.outbox.pending()
        _refusing(runner, True)
        for _ in range(3):  # PUBACK handlers (paho's thread) and confirmations that cannot write
            runner.uplink._acked([row.seq])
            runner.uplink._on_stored(b'{"stored": ["%s"], "at": 1}' % row.message_id.encode())
        assert runner.uplink.store_errors == 6 and runner.uplink.acked == 0
        _refusing(runner, False)
        runner.uplink._on_stored(b'{"stored": ["%s"], "at": 1}' % row.message_id.encode())
        assert runner.outbox.size() == 0 and runner.uplink.confirmed == 1
    finally:
        runner.outbox.close()
