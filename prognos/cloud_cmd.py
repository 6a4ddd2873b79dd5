"""``prognos cloud serve | migrate | seed | token``: run and prepare the cloud service.

Settings come from ``PROGNOS_*`` environment variables (see ``cloud/settings.py``); the
options here override the few that are handy on a command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cloud", help="the cloud service: ingest, work orders, dispatch, reminders")
    p.add_argument("--data-dir", type=Path, help="folder of the SQLite database (PROGNOS_DATA_DIR)")
    p.add_argument(
        "--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://... (PROGNOS_DATABASE_URL)"
    )
    cs = p.add_subparsers(dest="cloud_command", required=True, metavar="ACTION")
    # the same two options after the action too (prognos cloud serve --data-dir X)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    serve = cs.add_parser(
        "serve", parents=[common], help="migrate, then serve the API with the ingest worker and scheduler"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--mqtt", help="broker to ingest from, mqtt://HOST:PORT (PROGNOS_MQTT_URL)")
    serve.add_argument(
        "--stream",
        help="NATS cluster to ingest the edge stream from, nats://H1:4222,nats://H2:4222 "
        "(PROGNOS_STREAM_URL; docs/scale.md)",
    )
    serve.add_argument("--no-migrate", action="store_true", help="refuse to start on an old schema instead")
    serve.set_defaults(func=_serve)

    migrate = cs.add_parser(
        "migrate", parents=[common], help="bring the database schema to the latest revision"
    )
    migrate.set_defaults(func=_migrate)

    seed = cs.add_parser(
        "seed",
        parents=[common],
        help="demo data: a tenant, sites and devices of a simulated fleet, engineers, tokens",
    )
    src = seed.add_mutually_exclusive_group()
    src.add_argument("--fleet", type=Path, help="fleet.json written by `prognos sim`")
    src.add_argument(
        "--devices", type=int, default=12, help="plan a fleet of this many devices (with --seed)"
    )
    seed.add_argument("--seed", type=int, default=7)
    seed.add_argument("--tenant", default="demo")
    seed.add_argument("--engineers", type=int, default=6)
    seed.add_argument("--tokens-out", type=Path, help="write the issued tokens here as JSON (mode 600)")
    seed.set_defaults(func=_seed)

    token = cs.add_parser("token", parents=[common], help="issue an API token")
    token.add_argument("--tenant", required=True)
    roles = ["admin", "dispatcher", "engineer", "device", "agent", "platform"]
    token.add_argument("--role", required=True, choices=roles)
    token.add_argument("--name", required=True)
    token.add_argument("--engineer-id", type=int)
    token.add_argument("--device-id", type=int)
    token.set_defaults(func=_token)

    login = cs.add_parser(
        "broker-login",
        parents=[common],
        help="issue (or --revoke) a broker login for a device, agent, bridge or cloud worker",
        description="Prints USERNAME PASSWORD once; only a hash is kept. Issuing again rotates it. "
        "With PROGNOS_BROKER_AUTH_DIR set the broker's password file and ACL are rewritten.",
    )
    login.add_argument("--role", required=True, choices=["device", "agent", "bridge", "cloud"])
    login.add_argument("--subject", required=True, help="device id, agent id, or the cloud worker's name")
    login.add_argument("--tenant", help="the tenant (not for --role cloud)")
    login.add_argument("--revoke", action="store_true", help="revoke this login instead of issuing one")
    login.set_defaults(func=_broker_login)

    logins = cs.add_parser(
        "broker-logins",
        parents=[common],
        help="issue the logins of a whole site: the cloud worker, agents, bridges, every device",
    )
    logins.add_argument("--tenant", required=True)
    logins.add_argument("--agent", action="append", required=True, help="an agent id (repeat for more)")
    logins.add_argument("--cloud", default="ingest", help="the cloud worker's name (default ingest)")
    logins.add_argument("--out", type=Path, required=True, help="JSON file username -> password (mode 600)")
    logins.set_defaults(func=_broker_logins)

    files = cs.add_parser(
        "broker-files", parents=[common], help="write mosquitto's password file and ACL from the registry"
    )
    files.add_argument("--out", type=Path, required=True, help="folder for passwd and acl")
    files.add_argument("--pid-file", type=Path, help="mosquitto's pid file: signal it to reload")
    files.set_defaults(func=_broker_files)

    ca = cs.add_parser(
        "broker-ca",
        parents=[common],
        help="create a CA and a TLS certificate for the broker (for a site or a test)",
        description="Writes ca.pem (every client's ca_file), ca.key (keep it offline), server.pem and "
        "server.key (mosquitto's certfile and keyfile) with OpenSSL.",
    )
    ca.add_argument("--out", type=Path, required=True, help="folder for the four files")
    ca.add_argument("--host", action="append", required=True, help="a name or address of the broker (repeat)")
    ca.add_argument("--days", type=int, default=825, help="validity (default 825)")
    ca.set_defaults(func=_broker_ca)


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    """The service's settings from the flags and PROGNOS_* variables, with the database URL
    checked (it parses, its driver is installed, it answers): a mistake is one line, exit 2."""
    from cloud.db.preflight import database_problem
    from cloud.settings import Settings

    overrides = {
        k: v
        for k, v in {"data_dir": args.data_dir, "database_url": args.database_url, **extra}.items()
        if v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # every problem, one line each
        raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file's folder
    problem = database_problem(settings.db_url)
    if problem is not None:
        raise ValueError(problem)
    return settings


def _migrate(args: argparse.Namespace) -> int:
    from cloud.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.db_url)
    print(f"prognos cloud: schema at head ({_safe(settings.db_url)})")
    return 0


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cloud.app import create_app
    from cloud.db.migrate import upgrade

    settings = _settings(args, mqtt_url=args.mqtt, stream_url=args.stream)
    if not args.no_migrate:
        upgrade(settings.db_url)
    app = create_app(settings, start_workers=True)
    base = f"http://{args.host}:{args.port}"
    print(
        f"prognos cloud: pages {base}/ui/  API docs {base}/docs\n"
        f"  database {_safe(settings.db_url)}\n"
        f"  ingest {'from ' + settings.mqtt_url if settings.mqtt_url else 'off (no --mqtt)'}"
        f"{'; stream ' + settings.stream_url if settings.stream_url else ''}\n"
        "  log in with a token: the file `prognos cloud seed --tokens-out` wrote, or `prognos cloud token`",
        flush=True,
    )
    if settings.mqtt_url and not _reachable(settings):
        print(f"prognos cloud: warning: no broker answers at {settings.mqtt_url} yet; ingest keeps trying "
              "and /readyz says not ready until it does", flush=True)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _reachable(settings: Any) -> bool:
    """Whether something accepts TCP connections at the broker's address (a quick look)."""
    import socket

    host, port, _ = settings.mqtt_broker()
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def _seed(args: argparse.Namespace) -> int:
    from cloud.clock import SystemClock
    from cloud.db import make_engine, make_session_factory
    from cloud.db.migrate import upgrade
    from cloud.seed import seed_fleet

    settings = _settings(args)
    if args.fleet is not None:
        doc = json.loads(args.fleet.read_text())
        manifest = doc["devices"] if isinstance(doc, dict) else doc
    else:
        from simulators.fleet import plan_fleet

        manifest = [
            d.as_record() for d in plan_fleet(args.devices, 1.0, args.seed, tenant=args.tenant).devices
        ]
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine).begin() as session:
            report = seed_fleet(
                session,
                manifest,
                SystemClock().now(),
                settings.secret_key,
                tenant=args.tenant,
                engineers=args.engineers,
                seed=args.seed,
            )
    finally:
        engine.dispose()
    print(
        f"prognos cloud: tenant {report.tenant!r}: +{report.sites} sites, +{report.devices} devices, "
        f"+{report.engineers} engineers"
    )
    if args.tokens_out:
        args.tokens_out.parent.mkdir(parents=True, exist_ok=True)
        args.tokens_out.touch(mode=0o600)
        args.tokens_out.write_text(json.dumps(report.tokens, indent=2) + "\n")
        print(f"tokens written to {args.tokens_out}")
    else:
        for name, tok in report.tokens.items():
            print(f"  {name:40s} {tok}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from cloud.clock import SystemClock
    from cloud.db import Tenant, make_engine, make_session_factory
    from cloud.db.migrate import upgrade
    from cloud.errors import CloudError
    from cloud.services.auth import issue_token

    settings = _settings(args)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine).begin() as session:
            tenant = session.scalar(select(Tenant).where(Tenant.slug == args.tenant))
            if tenant is None:
                print(
                    f"prognos cloud token: no tenant {args.tenant!r} (run `prognos cloud seed`)",
                    file=sys.stderr,
                )
                return 2
            try:
                _, plain = issue_token(
                    session,
                    tenant.id,
                    args.role,
                    args.name,
                    SystemClock().now(),
                    settings.secret_key,
                    args.engineer_id,
                    args.device_id,
                )
            except CloudError as exc:
                print(f"prognos cloud token: {exc}", file=sys.stderr)
                return 2
    finally:
        engine.dispose()
    print(plain)
    return 0


def _registry(args: argparse.Namespace, command: str, work: Any) -> int:
    """Run ``work(session, tenant_or_None, state)`` in one transaction on a migrated database;
    a person's mistake (unknown tenant, device, bad name) is one line and exit 2."""
    from sqlalchemy import select

    from cloud.clock import SystemClock
    from cloud.db import Tenant
    from cloud.db.migrate import upgrade
    from cloud.errors import CloudError
    from cloud.state import CloudState

    settings = _settings(args)
    upgrade(settings.db_url)
    state = CloudState.build(settings, SystemClock())
    try:
        with state.sessions.begin() as session:
            tenant = None
            if getattr(args, "tenant", None):
                tenant = session.scalar(select(Tenant).where(Tenant.slug == args.tenant))
                if tenant is None:
                    print(f"prognos cloud {command}: no tenant {args.tenant!r} (run `prognos cloud seed`)",
                          file=sys.stderr)  # fmt: skip
                    return 2
            try:
                return int(work(session, tenant, state))
            except CloudError as exc:
                print(f"prognos cloud {command}: {exc}", file=sys.stderr)
                return 2
    finally:
        state.close()


def _broker_login(args: argparse.Namespace) -> int:
    from cloud.services import broker_identity
    from firmware_bridge.contract import broker_username

    def work(session: Any, tenant: Any, state: Any) -> int:
        if args.revoke:
            name = broker_username(args.role, args.tenant, args.subject)
            if broker_identity.revoke(session, name, state.clock.now()) == 0:
                print(f"prognos cloud broker-login: no active login {name!r}", file=sys.stderr)
                return 2
            state.sync_broker(session)
            print(f"revoked {name}")
            return 0
        if args.role != "cloud" and tenant is None:
            print("prognos cloud broker-login: --tenant is required for this role", file=sys.stderr)
            return 2
        row, password = broker_identity.issue(session, args.role, tenant, args.subject, state.clock.now())
        state.sync_broker(session)
        print(f"{row.username} {password}")
        return 0

    return _registry(args, "broker-login", work)


def _broker_logins(args: argparse.Namespace) -> int:
    from cloud.services import broker_identity

    def work(session: Any, tenant: Any, state: Any) -> int:
        now = state.clock.now()
        issued = broker_identity.issue_fleet_logins(session, tenant, args.agent, now, cloud=args.cloud)
        state.sync_broker(session)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.touch(mode=0o600)
        args.out.chmod(0o600)
        args.out.write_text(json.dumps(issued, indent=2) + "\n")
        print(f"prognos cloud broker-logins: {len(issued)} logins written to {args.out}")
        return 0

    return _registry(args, "broker-logins", work)


def _broker_files(args: argparse.Namespace) -> int:
    from cloud.broker_files import write_broker_files

    def work(session: Any, tenant: Any, state: Any) -> int:
        done = write_broker_files(session, args.out, args.pid_file)
        reloaded = ", broker reloaded" if done.reloaded else ""
        print(f"prognos cloud broker-files: {done.logins} logins in {done.passwd} and {done.acl}{reloaded}")
        return 0

    return _registry(args, "broker-files", work)


def _broker_ca(args: argparse.Namespace) -> int:
    from .site_ca import make_site_ca

    try:
        made = make_site_ca(args.out, args.host, days=args.days)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"prognos cloud broker-ca: {exc}", file=sys.stderr)
        return 2
    print(f"prognos cloud broker-ca: clients trust {made.ca_cert}; "
          f"mosquitto uses certfile {made.server_cert} and keyfile {made.server_key}")  # fmt: skip
    return 0
