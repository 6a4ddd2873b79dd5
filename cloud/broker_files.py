"""Write the broker's password file and ACL from the registry, and ask mosquitto to reload.

The rendering is :mod:`cloud.services.broker_identity`; this is its thin I/O adapter. Each
file is written to a temporary name and renamed over the old one, so the broker never
reads half a file, and both are readable by their owner only (they hold password hashes).
mosquitto rereads both on SIGHUP, which is sent to the process named by the pid file
when there is one (the project's launcher writes it).
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from .services.broker_identity import acl_file, active_credentials, password_file

__all__ = ["BrokerFiles", "write_broker_files"]

log = logging.getLogger("prognos.cloud.broker_files")


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    logins: int
    reloaded: bool


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_broker_files(session: Session, folder: Path, pid_file: Path | None = None) -> BrokerFiles:
    """``folder/passwd`` and ``folder/acl`` as the registry says now; SIGHUP to the broker
    in ``pid_file`` (if it names a live process) so it applies them without a restart."""
    folder.mkdir(parents=True, exist_ok=True)
    logins = active_credentials(session)
    _replace(folder / "passwd", password_file(logins))
    _replace(folder / "acl", acl_file(session, logins))
    reloaded = False
    if pid_file is not None and pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
            reloaded = True
        except (ValueError, ProcessLookupError, PermissionError) as exc:
            log.warning("could not ask the broker in %s to reload: %s", pid_file, exc)
    return BrokerFiles(folder / "passwd", folder / "acl", len(logins), reloaded)
