"""Shared fixtures: a real mosquitto (and the embedded broker) per test, and the datasets folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from mqtt_client import BrokerAddress
from prognos.broker import MosquittoBroker, find_mosquitto
from prognos.embedded_broker import EmbeddedBroker
from tests.support.engines import engine_missing

# No per-example deadline: the first example of a test that reaches a compiled (numba) loop
# pays its compilation on a machine with a cold cache. Speed is measured in bench/.
settings.register_profile("prognos", deadline=None)
settings.load_profile("prognos")

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture
def mosquitto() -> Iterator[MosquittoBroker]:
    """A fresh mosquitto on a free 127.0.0.1 port, stopped after the test."""
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    with MosquittoBroker() as broker:
        yield broker


@pytest.fixture
def persistent_broker() -> Iterator[MosquittoBroker]:
    """A mosquitto that keeps sessions across a halt()/start() on the same port."""
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    broker = MosquittoBroker(persistence=True).start()
    yield broker
    broker.stop()


@pytest.fixture(params=["mosquitto", "embedded"])
def any_broker(request: pytest.FixtureRequest) -> Iterator[MosquittoBroker | EmbeddedBroker]:
    """mosquitto (the reference) and the embedded Python broker, for tests both must pass."""
    if request.param == "embedded":
        with EmbeddedBroker() as embedded:
            yield embedded
        return
    yield request.getfixturevalue("mosquitto")


@pytest.fixture
def broker_address(any_broker: MosquittoBroker | EmbeddedBroker) -> BrokerAddress:
    return BrokerAddress(any_broker.host, any_broker.port)


@pytest.fixture
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"datasets folder {DATASETS} is absent")
    return DATASETS


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Leave nothing in /tmp: pytest removes a passing session's folder itself (pyproject's
    ``tmp_path_retention_policy``); this removes the per-user folder it lived in once that
    holds nothing but a dangling "current" link."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)
    if base is None or session.testsfailed or base.exists():
        return
    parent = base.parent
    try:
        for entry in parent.iterdir():
            if entry.is_symlink() and not entry.exists():
                entry.unlink()
        parent.rmdir()  # only when empty: another session's folders stay
    except OSError:
        pass
