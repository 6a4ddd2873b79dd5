"""Alembic is the only way the schema changes: the migrations must build exactly the tables
the models describe, on both engines, and readiness reports a database that lags behind."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloud.db import Base
from cloud.db.migrate import current_revision, head_revision
from cloud.state import CloudState


def test_models_and_migrations_agree(state: CloudState) -> None:
    with state.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models differ from migrations; add a revision: {diff}"
    assert current_revision(state.engine) == head_revision()


def test_readiness_follows_the_schema(client: TestClient, state: CloudState) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    with state.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    r = client.get("/readyz")
    assert r.status_code == 503 and "run `prognos cloud migrate`" in r.json()["checks"]["schema"]
