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

    serve = cs.add_parser("serve", help="migrate, then serve the API with the ingest worker and scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--mqtt", help="broker to ingest from, mqtt://HOST:PORT (PROGNOS_MQTT_URL)")
    serve.add_argument("--no-migrate", action="store_true", help="refuse to start on an old schema instead")
    serve.set_defaults(func=_serve)

    migrate = cs.add_parser("migrate", help="bring the database schema to the latest revision")
    migrate.set_defaults(func=_migrate)

    seed = cs.add_parser(
        "seed", help="demo data: a tenant, sites and devices of a simulated fleet, engineers, tokens"
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

    token = cs.add_parser("token", help="issue an API token")
    token.add_argument("--tenant", required=True)
    roles = ["admin", "dispatcher", "engineer", "device", "agent"]
    token.add_argument("--role", required=True, choices=roles)
    token.add_argument("--name", required=True)
    token.add_argument("--engineer-id", type=int)
    token.add_argument("--device-id", type=int)
    token.set_defaults(func=_token)


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from cloud.settings import Settings

    overrides = {
        k: v
        for k, v in {"data_dir": args.data_dir, "database_url": args.database_url, **extra}.items()
        if v is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


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

    settings = _settings(args, mqtt_url=args.mqtt)
    if not args.no_migrate:
        upgrade(settings.db_url)
    app = create_app(settings, start_workers=True)
    print(
        f"prognos cloud: http://{args.host}:{args.port} (API docs at /docs)\n"
        f"  database {_safe(settings.db_url)}\n"
        f"  ingest {'from ' + settings.mqtt_url if settings.mqtt_url else 'off (no --mqtt)'}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


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
