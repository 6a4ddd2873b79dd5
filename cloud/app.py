"""``create_app(settings)``: the FastAPI service, its routers and its background workers.

Workers (the MQTT ingest and the scheduler) start with the app's lifespan when
``start_workers`` is true, which is what ``prognos cloud serve`` does; tests usually build
the app without them and drive ingest and the scheduler directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from . import web
from .api.errors import install_error_handlers
from .api.middleware import BodyLimit, RequestLog
from .api.routes import (
    alerts,
    broker,
    devices,
    engineers,
    fleet,
    inbox,
    ingest,
    kpis,
    models,
    reminders,
    system,
    work_orders,
)
from .api_docs import install_api_docs
from .clock import Clock
from .logs import configure_logging
from .settings import Settings
from .state import CloudState
from .workers import Workers

__all__ = ["create_app"]


def _operation_id(route: APIRoute) -> str:
    return route.name  # handlers are named verb_noun and unique: stable OpenAPI ids


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    *,
    start_workers: bool = False,
    state: CloudState | None = None,
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    state = state or CloudState.build(settings, clock)
    workers = Workers(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            workers.start()
        try:
            yield
        finally:
            workers.stop()
            state.close()

    app = FastAPI(
        title="Prognos cloud",
        version="1",
        summary="Alerts in, preventive work orders out: ingest, dispatch, SLAs, reminders.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # /docs and /redoc from installed files (cloud/api_docs.py), not a CDN
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.cloud = state
    app.state.workers = workers
    install_error_handlers(app)
    routers = (
        system, fleet, devices, engineers, alerts, work_orders, reminders, inbox, ingest, kpis, models, broker
    )  # fmt: skip
    for module in routers:
        app.include_router(module.router)
    web.install(app)
    app.add_middleware(RequestLog, metrics=state.metrics)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, larger={"/api/v1/models": settings.max_model_bytes}
    )
    return app
