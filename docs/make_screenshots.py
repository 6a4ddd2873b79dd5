"""Regenerate the README's screenshots from a real run: the demo's stack, fleet and field
crew, then Debian's headless Chromium (through Playwright) on each page.

    .venv/bin/python docs/make_screenshots.py [--devices 10] [--days 5]

Writes docs/screenshots/*.png (viewport-sized, so they stay small).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from sqlalchemy import case, func, select  # noqa: E402

from cloud.db import Device, WorkOrder  # noqa: E402
from prognos.demo_stack import DemoStack  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402
from simulators.sinks import MqttSink, SerialSink, route_by_transport  # noqa: E402
from simulators.stream import run_stream  # noqa: E402
from tests.browser.conftest import CHROMIUM_FLAGS, find_chromium  # noqa: E402

OUT = Path(__file__).resolve().parent / "screenshots"


def _login(page: Page, url: str, token: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/ui/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--days", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    chromium = find_chromium()
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    fleet = plan_fleet(args.devices, args.days, args.seed, transports=("serial", "mqtt"))
    workdir = Path(tempfile.mkdtemp(prefix="prognos-shots-"))
    stack = DemoStack(fleet, workdir).start()
    try:
        assert stack.link is not None and stack.state is not None and stack.seed is not None
        mqtt = MqttSink(stack.address, fleet.tenant, passwords=stack.device_passwords())
        mqtt.start()
        sinks = route_by_transport(fleet, {"serial": SerialSink(stack.link), "mqtt": mqtt})
        crew = stack.field_crew()

        def follow(ts: float, sent: int) -> None:
            stack.follow(ts)
            if ts < fleet.start + 0.6 * (fleet.end - fleet.start):  # then the crew goes home, so
                crew.step(ts)  # the board and "my work orders" keep live work to show

        run_stream(fleet, sinks, speed=0, progress=follow, workshop=stack.workshop)
        mqtt.close()
        stack.follow(fleet.end)
        stack.drain()
        with stack.state.sessions() as s:
            live = WorkOrder.status.in_(("assigned", "accepted", "in_progress"))
            busiest = s.execute(  # the engineer with the most live work: a full "my work orders"
                select(WorkOrder.assignee_id, func.count())
                .where(WorkOrder.assignee_id.is_not(None))
                .group_by(WorkOrder.assignee_id)
                .order_by(func.sum(case((live, 1), else_=0)).desc(), func.count().desc())
            ).first()
            sick = s.scalar(select(Device).order_by(Device.health).limit(1))
            order = s.scalar(
                select(WorkOrder).where(WorkOrder.source == "alert").order_by(WorkOrder.id).limit(1)
            )
        engineer = next(
            v for k, v in stack.seed.tokens.items() if busiest and k.startswith(f"engineer:{busiest[0]}:")
        )
        OUT.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            _login(page, stack.url, stack.seed.tokens["dispatcher"])
            shots = {
                "fleet": "/ui/fleet",
                "board": "/ui/work-orders",
                "work-orders": "/ui/work-orders/list",
                "kpis": "/ui/kpis",
                "models": "/ui/models",
            }
            if sick is not None:
                shots["device"] = f"/ui/devices/{sick.id}"
            if order is not None:
                shots["work-order"] = f"/ui/work-orders/{order.id}"
            for name, path in shots.items():
                page.goto(stack.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}.png"))
            _login(page, stack.url, engineer)
            page.screenshot(path=str(OUT / "engineer.png"))
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            _login(phone, stack.url, stack.seed.tokens["dispatcher"])
            phone.screenshot(path=str(OUT / "fleet-phone.png"))
            phone.goto(stack.url + "/ui/work-orders")
            phone.wait_for_load_state("networkidle")
            phone.screenshot(path=str(OUT / "board-phone.png"))
            browser.close()
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for png in sorted(OUT.glob("*.png")):
        print(f"{png.relative_to(OUT.parent.parent)}  {png.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
