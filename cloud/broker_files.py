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

__all__ = ["QUEUE_MESSAGES", "BrokerFiles", "mosquitto_conf", "write_broker_files"]

log = logging.getLogger("prognos.cloud.broker_files")


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    conf: Path
    logins: int
    reloaded: bool


#: Queue room for an absent subscriber (the cloud, an agent), in messages. A fleet of 1,000
#: devices reporting through agents sends the cloud about 1,000 summaries an hour plus
#: alerts and statuses; a million messages is days of backlog, in a few hundred MB.
QUEUE_MESSAGES = 1_000_000


def mosquitto_conf(folder: Path, port: int = 1883) -> str:
    """A mosquitto configuration for these files: logins only, the ACL, persistence saved
    every minute (mosquitto keeps its queue in memory between autosaves), queues sized in
    days. The edge resends what the cloud never confirmed, so these settings save work, not
    data. Add a TLS listener (``certfile``, ``keyfile``) where devices reach it over a network."""
    return (
        "# written by prognos cloud broker-files; include it from /etc/mosquitto/conf.d/\n"
        "per_listener_settings false\n"
        f"listener {port}\n"
        "allow_anonymous false\n"
        f"password_file {folder / 'passwd'}\n"
        f"acl_file {folder / 'acl'}\n"
        "persistence true\n"
        "autosave_interval 60\n"
        f"max_queued_messages {QUEUE_MESSAGES}\n"
        "max_queued_bytes 0\n"
        "max_inflight_messages 100\n"
        "message_size_limit 1000000\n"
    )


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_broker_files(session: Session, folder: Path, pid_file: Path | None = None) -> BrokerFiles:
    """``folder/passwd`` and ``folder/acl`` as the registry says now (and, once, a
    ``mosquitto.conf`` that uses them); SIGHUP to the broker in ``pid_file`` (if it names a
    live process) so it applies them without a restart."""
    folder.mkdir(parents=True, exist_ok=True)
    logins = active_credentials(session)
    _replace(folder / "passwd", password_file(logins))
    _replace(folder / "acl", acl_file(session, logins))
    if not (folder / "mosquitto.conf").exists():  # a starting point: the operator may edit it
        _replace(folder / "mosquitto.conf", mosquitto_conf(folder.resolve()))
    reloaded = False
    if pid_file is not None and pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
            reloaded = True
        except (ValueError, ProcessLookupError, PermissionError) as exc:
            log.warning("could not ask the broker in %s to reload: %s", pid_file, exc)
    return BrokerFiles(folder / "passwd", folder / "acl", folder / "mosquitto.conf", len(logins), reloaded)
