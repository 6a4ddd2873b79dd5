"""Structured logs: one JSON object per line on stderr, with whatever ``extra=`` a call adds."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Route the ``prognos`` loggers to stderr; idempotent, so repeated app builds do not stack handlers."""
    logger = logging.getLogger("prognos")
    logger.setLevel(level.upper())
    logger.propagate = False  # one line per record, not a second copy through the root logger
    for h in list(logger.handlers):
        if getattr(h, "_prognos", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._prognos = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    logger.addHandler(handler)
