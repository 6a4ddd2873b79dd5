"""ASGI middleware: a hard cap on request bodies, and one structured log line plus metrics
per request. Pure ASGI (not BaseHTTPMiddleware), so a chunked upload that grows past the
cap is cut off as it streams in rather than after it was buffered."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from ..metrics import Metrics

__all__ = ["BodyLimit", "RequestLog"]

log = logging.getLogger("prognos.cloud.http")
Scope = dict[str, Any]


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """``max_bytes`` for every request, except the paths in ``larger`` (model uploads)."""

    def __init__(self, app: Any, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.default_max, self.larger = app, max_bytes, larger or {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.larger.get(scope.get("path", ""), self.default_max)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _reply(send, 413, f"request body over {limit} bytes")
        seen = 0
        too_large = False
        replied = False

        async def limited_receive() -> Any:
            # Past the cap, hand the app an empty final chunk instead of the rest; whatever it
            # answers to that truncated body is replaced by a 413 below.
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal replied
            if not too_large:
                await send(message)
            elif not replied:
                replied = True
                await _reply(send, 413, f"request body over {limit} bytes")

        await self.app(scope, limited_receive, guarded_send)


class RequestLog:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500
        request_id = uuid.uuid4().hex[:16]

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - start
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.request_seconds.labels(path).observe(elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "route": path,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )
