"""Domain errors to HTTP, once: the services never know about status codes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import CloudError, Conflict, Forbidden, InvalidRequest, NotFound, Unavailable
from .deps import Unauthorized

__all__ = ["install_error_handlers"]

log = logging.getLogger("prognos.cloud.api")

_STATUS: list[tuple[type[Exception], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidRequest, 422),
    (Unavailable, 503),
    (CloudError, 400),
]


def _status_for(exc: Exception) -> int:
    return next(code for cls, code in _STATUS if isinstance(exc, cls))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CloudError)
    async def _domain(_: Request, exc: CloudError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status_for(exc))

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        detail = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
        return JSONResponse({"message": message, "detail": detail}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict: %s", exc.orig)
        return JSONResponse({"detail": "conflicts with a concurrent change; retry"}, status_code=409)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig, exc_info=exc)
        return JSONResponse({"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})
