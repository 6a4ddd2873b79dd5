"""The engineers' and service desk's web pages, served by the cloud service itself.

Server-rendered HTML (Jinja2) with SVG charts drawn on the server and one small script for
live updates and actions: nothing is fetched from outside at run time. :func:`install`
adds the pages, their static files and their error pages to the FastAPI app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ..errors import CloudError
from . import board, order_list, pages, session
from .render import page

__all__ = ["install"]


def install(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")
    for module in (session, pages, order_list, board):  # the list before /work-orders/{id}
        app.include_router(module.router)
    api_handler = app.exception_handlers[CloudError]

    async def domain_error(request: Request, exc: Exception) -> Response:
        """A page gets an HTML page for a domain error (404, 403); the API keeps its JSON."""
        if not request.url.path.startswith("/ui"):
            return await api_handler(request, exc)  # type: ignore[no-any-return]
        json_response = await api_handler(request, exc)
        state = request.app.state.cloud
        return page(
            request,
            "error.html",
            None,
            state.clock.now(),
            json_response.status_code,
            status={403: "Not allowed", 404: "Not found"}.get(json_response.status_code, "Cannot do that"),
            message=str(exc),
        )

    async def login_required(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, session.LoginRequired)
        return session.login_redirect(exc)

    app.add_exception_handler(CloudError, domain_error)
    app.add_exception_handler(session.LoginRequired, login_required)
