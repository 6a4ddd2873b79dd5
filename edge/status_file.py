"""What a running agent is doing, in a file next to its outbox: ``prognos edge status`` reads
it from another process. JSON, rewritten atomically every few seconds and at shutdown, so a
reader never sees half of it and can tell a stopped agent (``running`` false, or an old
``at``) from a live one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["STATUS_FILE", "read_status", "write_status"]

STATUS_FILE = "status.json"


def write_status(data_dir: Path, status: dict[str, Any]) -> None:
    path = data_dir / STATUS_FILE
    tmp = path.with_name(f".{STATUS_FILE}.tmp")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The last status the agent in ``data_dir`` wrote, or None if it never ran there."""
    try:
        doc = json.loads((data_dir / STATUS_FILE).read_text())
    except FileNotFoundError:
        return None
    return doc if isinstance(doc, dict) else None
