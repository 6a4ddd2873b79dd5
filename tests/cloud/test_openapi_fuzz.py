"""The OpenAPI schema is valid and schemathesis, generating requests from it, finds no
server error (5xx) on any operation. Runs on SQLite with the small test world seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cloud.app import create_app
from cloud.clock import ManualClock
from cloud.db.migrate import upgrade
from cloud.settings import Settings
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, wire
from .world import build_world

pytestmark = pytest.mark.slow
TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    upgrade(f"sqlite:///{path}")
    state = CloudState.build(Settings(database_url=f"sqlite:///{path}", log_level="ERROR"), ManualClock(NOW))
    world = build_world(state)
    state.ingestor.handle(*wire(alert("ac-1", "raise", NOW)))  # something for the order routes to find
    TOKENS.update(world.token)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(state.settings, state=state))
    state.close()


def _fuzz(operation: object, token: str, failures: list[str]) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.path} {case.path_parameters} {case.body!r}: "
                f"{response.status_code} {response.text[:200]}"
            )

    run()


def test_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation, 25 generated requests each (admin token; a device token for ingest)."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        _fuzz(operation, TOKENS["device:ac-1" if operation.path == "/api/v1/ingest" else "admin"], failures)
    assert not failures, "\n".join(failures[:20])
