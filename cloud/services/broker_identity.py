"""Who may log in to the broker, and what each login may publish and read.

The cloud's registry is the source of truth: each device, edge agent, serial bridge and
cloud worker gets its own MQTT credential (:func:`issue`), stored only as a salted
PBKDF2-SHA512 hash in the ``$7$`` format mosquitto's password file uses. From the
registry the project renders mosquitto's password file (:func:`password_file`) and ACL
(:func:`acl_file`); ``cloud/broker_files.py`` writes them and asks the broker to reload.

What each role may do (see docs/security.md)::

    device  {tenant}/{device}   write prognos/v1/{tenant}/{device}/+          (its own topics)
    bridge  {tenant}/{agent}    write prognos/v1/{tenant}/{device}/+ for each device
                                assigned to that agent (a serial gateway publishes for them)
    agent   {tenant}/{agent}    write prognos/v1/{tenant}/edge/{agent}/+      (its own reports)
                                read  prognos/v1/{tenant}/edge/{agent}/cmd/#  (its commands)
                                read  prognos/v1/{tenant}/+/telemetry         (device data)
    cloud   {name}              read  prognos/v1/+/edge/+/+                   (what it ingests)
                                write prognos/v1/+/edge/+/cmd/#               (commands)

Nobody else gets in: the generated config refuses anonymous clients. The ACL stops a login
from publishing outside its topics; ingest then checks that the agent a topic names is the
one the device is assigned to, so a leaked agent credential cannot report other devices.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from firmware_bridge.contract import AgentKey, DeviceKey, broker_username

from ..db import Agent, Device, MqttCredential, Tenant
from ..errors import InvalidRequest, NotFound

__all__ = [
    "BROKER_ROLES",
    "PBKDF2_ITERATIONS",
    "acl_file",
    "active_credentials",
    "hash_password",
    "issue",
    "issue_fleet_logins",
    "password_file",
    "revoke",
    "verify_password",
]

BROKER_ROLES = ("device", "agent", "bridge", "cloud")
#: mosquitto_passwd uses 101; a login is checked once per connection, so more costs nothing
#: that matters and makes a stolen password file much slower to attack
PBKDF2_ITERATIONS = 20_000
_SALT_BYTES = 12
_DEVICE_KEY: TypeAdapter[str] = TypeAdapter(DeviceKey)  # the shapes a topic level allows
_AGENT_KEY: TypeAdapter[str] = TypeAdapter(AgentKey)


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """``$7$iterations$salt$digest`` (base64), the PBKDF2-SHA512 line mosquitto reads."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time)."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(mine, base64.b64decode(digest))


def _check_subject(session: Session, role: str, tenant: Tenant | None, subject: str) -> None:
    if role not in BROKER_ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(BROKER_ROLES)}")
    if role == "cloud":
        if tenant is not None:
            raise InvalidRequest("a cloud credential serves every tenant: give no tenant")
        return
    if tenant is None:
        raise InvalidRequest(f"a {role} credential belongs to a tenant")
    if role == "device":
        device = session.scalar(select(Device).where(Device.tenant_id == tenant.id, Device.key == subject))
        if device is None or not device.registered:
            raise NotFound(f"no registered device {subject!r} in tenant {tenant.slug!r}")
    else:  # agent, bridge: the agent is recorded so devices can be assigned to it
        agent = session.scalar(select(Agent).where(Agent.tenant_id == tenant.id, Agent.key == subject))
        if agent is None:
            session.add(Agent(tenant_id=tenant.id, key=subject, state="offline"))


def issue(
    session: Session, role: str, tenant: Tenant | None, subject: str, now: datetime
) -> tuple[MqttCredential, str]:
    """A new login for ``subject``; the password is returned once and never stored. An
    earlier login of the same subject is revoked (issuing again is how a password rotates)."""
    try:
        (_DEVICE_KEY if role == "device" else _AGENT_KEY).validate_python(subject)
    except ValidationError:
        raise InvalidRequest(f"{subject!r} is not a valid {role} name for a topic") from None
    _check_subject(session, role, tenant, subject)
    username = broker_username(role, tenant.slug if tenant else None, subject)
    revoke(session, username, now)
    password = secrets.token_urlsafe(24)
    row = MqttCredential(
        tenant_id=tenant.id if tenant else None,
        role=role,
        subject=subject,
        username=username,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, password


def revoke(session: Session, username: str, now: datetime) -> int:
    """Revoke every active login called ``username``; how many there were."""
    live = MqttCredential.revoked_at.is_(None)
    rows = list(session.scalars(select(MqttCredential).where(MqttCredential.username == username, live)))
    for row in rows:
        row.revoked_at = now
    return len(rows)


def active_credentials(session: Session) -> list[MqttCredential]:
    """The logins the broker should accept, newest first per username."""
    rows = session.scalars(
        select(MqttCredential).where(MqttCredential.revoked_at.is_(None)).order_by(MqttCredential.id.desc())
    )
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.username not in seen:
            seen.add(row.username)
            out.append(row)
    return sorted(out, key=lambda r: r.username)


def password_file(credentials: Iterable[MqttCredential]) -> str:
    """mosquitto's ``password_file``: ``username:$7$...`` per line."""
    return "".join(f"{c.username}:{c.password_hash}\n" for c in credentials)


def acl_file(session: Session, credentials: Iterable[MqttCredential]) -> str:
    """mosquitto's ``acl_file`` for these logins; nothing is granted to anyone else."""
    slugs = {t.id: t.slug for t in session.scalars(select(Tenant))}
    lines = ["# written by prognos from the cloud's registry: edit the registry, not this file", ""]
    for c in credentials:
        tenant = slugs.get(c.tenant_id or -1, "")
        lines.append(f"user {c.username}")
        if c.role == "cloud":
            lines += ["topic read prognos/v1/+/edge/+/+", "topic write prognos/v1/+/edge/+/cmd/#"]
        elif c.role == "agent":
            lines += [
                f"topic write prognos/v1/{tenant}/edge/{c.subject}/+",
                f"topic read prognos/v1/{tenant}/edge/{c.subject}/cmd/#",
                f"topic read prognos/v1/{tenant}/+/telemetry",
            ]
        elif c.role == "device":
            lines.append(f"topic write prognos/v1/{tenant}/{c.subject}/+")
        else:  # bridge: publishes for the devices assigned to its agent
            served = session.scalars(
                select(Device.key)
                .where(Device.tenant_id == c.tenant_id, Device.agent_key == c.subject, Device.registered)
                .order_by(Device.key)
            )
            lines += [f"topic write prognos/v1/{tenant}/{key}/+" for key in served]
        lines.append("")
    return "\n".join(lines)


def issue_fleet_logins(
    session: Session, tenant: Tenant, agents: Iterable[str], now: datetime, *, cloud: str = "ingest"
) -> dict[str, str]:
    """Logins for a whole site in one go (the demo, a first installation): the cloud worker,
    each agent and its serial bridge, and every registered device of the tenant. Username ->
    password, to hand to each party once."""
    issued = {}
    wanted = [("cloud", None, cloud)]
    for agent in agents:
        wanted += [("agent", tenant, agent), ("bridge", tenant, agent)]
    devices = session.scalars(select(Device.key).where(Device.tenant_id == tenant.id, Device.registered))
    wanted += [("device", tenant, key) for key in sorted(devices)]
    for role, owner, subject in wanted:
        row, password = issue(session, role, owner, subject, now)
        issued[row.username] = password
    return issued
