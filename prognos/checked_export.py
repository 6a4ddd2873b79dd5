"""Write a model file only once it has been shown to reproduce the model it came from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_checked"]


def write_checked(
    out: Path,
    metrics: dict[str, Any],
    write: Callable[[Path], object],
    check: Callable[[Path], dict[str, float]],
) -> None:
    """``write`` to ``out.part``, ``check`` it, write it again with the check's figures in
    ``metrics`` (which ``write`` embeds), check that copy too, then rename it to ``out``.

    A failed check leaves no file behind, neither ``out`` nor the ``.part``.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    try:
        write(tmp)
        metrics["export_check"] = check(tmp)
        write(tmp)
        check(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
