"""Is the database URL usable? One line that says why not, before anything starts.

A person types PROGNOS_DATABASE_URL; a mistake there (a URL that does not parse, a driver
that is not installed, a server that does not answer, a SQLite folder that does not exist)
must read as one line, not as a SQLAlchemy traceback, and must not create anything.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

__all__ = ["database_problem"]

_EXAMPLES = "sqlite:////var/lib/prognos/prognos.db or postgresql+psycopg://user@host/db"


def database_problem(url: str, *, connect: bool = True) -> str | None:
    """Why ``url`` cannot be used, or None. With ``connect``, it also opens a connection."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"database URL {url!r} does not parse; it looks like {_EXAMPLES}"
    safe = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).resolve().parent
        if not folder.is_dir():
            return f"database {safe}: the folder {folder} does not exist (create it, or fix the URL)"
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError:
        return f"database {safe}: no SQLAlchemy dialect {parsed.drivername!r}; it looks like {_EXAMPLES}"
    except ImportError as exc:
        return f"database {safe}: its driver is not installed ({exc.name or exc}); pip install it"
    if not connect:
        engine.dispose()
        return None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        said = str(getattr(exc, "orig", None) or exc).strip()
        return f"cannot connect to {safe}: {said.splitlines()[0] if said else type(exc).__name__}"
    finally:
        engine.dispose()
    return None
