"""Shared fixtures: a real mosquitto per test module, and the datasets folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge.mqtt_link import BrokerAddress
from prognos.broker import MosquittoBroker, find_mosquitto
from tests.support.engines import engine_missing

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


@pytest.fixture
def broker_address(mosquitto: MosquittoBroker) -> BrokerAddress:
    return BrokerAddress(mosquitto.host, mosquitto.port)


@pytest.fixture
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"datasets folder {DATASETS} is absent")
    return DATASETS
