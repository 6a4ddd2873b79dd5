"""Cloud fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL, a manual
clock, the app on that database, and a small two-tenant world with a token per role."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.clock import ManualClock
from cloud.db.migrate import upgrade
from cloud.settings import Settings
from cloud.state import CloudState
from prognos.postgres import PostgresServer, find_pg_bin
from tests.support.engines import engine_missing

from .world import World, build_world

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning: engineers on shift


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        engine_missing("PostgreSQL", "Debian: apt-get install postgresql")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL could not be started: {exc}")
        pytest.skip(f"PostgreSQL could not be started here: {exc}")
    try:
        server.execute("CREATE DATABASE prognos_template")
        upgrade(server.url("prognos_template"))
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each engine, private to the test."""
    if request.param == "sqlite":
        path = tmp_path / "prognos.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE prognos_template")
    yield server.url(name)
    server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path, log_json=True, log_level="WARNING")


@pytest.fixture
def state(settings: Settings, clock: ManualClock) -> Iterator[CloudState]:
    st = CloudState.build(settings, clock)
    yield st
    st.close()


@pytest.fixture
def world(state: CloudState) -> World:
    return build_world(state)


@pytest.fixture
def client(state: CloudState) -> Iterator[TestClient]:
    with TestClient(create_app(state.settings, state=state)) as c:
        yield c
