"""A real service on a free loopback port with seeded data, and a real headless Chromium.

Chromium is Debian's package (``/usr/bin/chromium``), driven by Playwright for Python; the
browser Playwright would download is never used. Screenshots go to
``artifacts/screenshots/`` (kept by CI as test artifacts, ignored by git).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.clock import ManualClock
from cloud.db.migrate import upgrade
from cloud.settings import Settings
from cloud.state import CloudState
from tests.cloud.conftest import NOW
from tests.cloud.messages import alert, consumable, summary, wire
from tests.cloud.world import World, build_world
from tests.support.engines import engine_missing
from tests.support.live import serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machines have no outside network
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class LiveService:
    url: str
    state: CloudState
    world: World
    clock: ManualClock
    order_id: int

    def api(self, who: str, path: str) -> Any:
        """GET an API path as one of the world's people (what the page should agree with)."""
        request = urllib.request.Request(self.url + path, headers=self.world.auth(who))
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def _seed(state: CloudState, clock: ManualClock) -> int:
    """An order left waiting since yesterday (overdue now), a day of summaries for ac-1
    drifting towards an alert, a filter wearing out, the alert."""
    early = NOW - timedelta(hours=30)
    state.ingestor.handle(*wire(alert("pump-1", "raise", early, alert_id="old", fault_key="bearing_temp")))
    clock.advance(NOW - early)
    for i in range(288):
        at = NOW - timedelta(minutes=5 * (288 - i))
        state.ingestor.handle(*wire(summary("ac-1", at, score=min(0.99, 0.1 + (i / 288) ** 4))))
        if i % 6 == 0:
            state.ingestor.handle(*wire(summary("pump-1", at, score=0.1)))
    state.ingestor.handle(*wire(consumable("ac-1", "air_filter", NOW, 0.2, NOW + timedelta(days=9))))
    state.ingestor.handle(*wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms", severity="warning")))
    return state.ingestor.handle(*wire(alert("ac-1", "raise", NOW))).created_orders[0]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'cloud.db'}"
    upgrade(url)
    clock = ManualClock(NOW - timedelta(hours=30))
    state = CloudState.build(Settings(database_url=url, log_level="WARNING"), clock)
    world = build_world(state)
    order_id = _seed(state, clock)
    clock.advance(timedelta(minutes=10))
    with serve(state) as url:
        yield LiveService(url, state, world, clock, order_id)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    path = find_chromium()
    if path is None:
        engine_missing("chromium", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
