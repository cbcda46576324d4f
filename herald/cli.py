"""The `herald` command line: a contract other tools rely on.

    herald serve [--host H] [--port P]          start the API (migrates first)
    herald accounts create [--friendly-name N] [--test] [--json]
    herald accounts list [--json]
    herald accounts rotate-token AC… [--json]
    herald migrate
    herald carriers [--url URL] [--json]       the carriers file, with each connection's live state
    herald campaign dry-run|send|sync|report FILE.toml [--json]   a bulk send through the API

Every flag has a `HERALD_*` twin (see config.py); a flag wins over its variable.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from herald import config

if TYPE_CHECKING:
    from herald.runtime import Runtime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory for the SQLite file and credentials")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in data dir)")
    parser.add_argument(
        "--carriers-file", help="SMPP connections and routes, TOML (HERALD_CARRIERS_FILE)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to listen on (HERALD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (HERALD_PORT, default 8080)")
    serve.add_argument("--public-url", help="base of absolute URLs Herald emits")
    serve.add_argument(
        "--no-api",
        dest="api",
        action="store_false",
        default=None,
        help="a dispatch-only node: no REST API, only /healthz and /metrics (HERALD_API=false)",
    )
    serve.add_argument(
        "--no-dispatch",
        dest="dispatch",
        action="store_false",
        default=None,
        help="an API-only node: accepted messages wait for a dispatching node "
        "(HERALD_DISPATCH=false)",
    )
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser(
        "campaign", help="dry-run, send, sync or report a bulk SMS campaign (see its --help)"
    )
    carriers = commands.add_parser(
        "carriers", help="list the SMPP connections and routes with their live state"
    )
    carriers.add_argument("--url", help="the running Herald (default: its host and port)")
    carriers.add_argument("--json", action="store_true", help="print JSON")
    accounts = commands.add_parser("accounts", help="manage accounts")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True)
    create = account_commands.add_parser("create", help="create an account")
    create.add_argument("--friendly-name")
    create.add_argument("--test", action="store_true", help="test credentials (§17)")
    create.add_argument("--json", action="store_true", help="print JSON")
    listing = account_commands.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    rotate = account_commands.add_parser(
        "rotate-token", help="give an account a new auth token; every earlier one stops working"
    )
    rotate.add_argument("account_sid", metavar="AC…")
    rotate.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _settings(args: argparse.Namespace) -> config.Settings:
    from pathlib import Path

    settings = config.from_environment()
    return settings.with_overrides(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        database_url=args.database_url,
        carriers_file=Path(args.carriers_file) if args.carriers_file else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        public_url=getattr(args, "public_url", None),
        api=getattr(args, "api", None),
        dispatch=getattr(args, "dispatch", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["campaign"]:  # a client of the API: none of the server's settings
        from herald.campaign.cli import main as campaign_main

        return campaign_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except config.ConfigError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )
    if args.command == "carriers":
        from herald.cli_carriers import show_carriers

        return show_carriers(settings, url=args.url, as_json=args.json)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        from herald.runtime import build

        build(settings).close()
        return 0
    return _accounts(settings, args)


def _serve(settings: config.Settings) -> int:
    import uvicorn

    from herald.api.app import create_app
    from herald.api.server import server_config
    from herald.domain.carrier_config import CarrierConfigError
    from herald.provisioning import ensure_first_account
    from herald.runtime import build

    try:
        runtime = build(settings)
    except CarrierConfigError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    with runtime.db.bootstrap_lock():  # several nodes may start at once
        created = ensure_first_account(runtime)
    if created is not None:
        print(f"Created account {created.sid}", flush=True)
        print(f"  AccountSid: {created.sid}", flush=True)
        print(f"  AuthToken:  {created.auth_token}", flush=True)
        print(f"  Saved to {settings.credentials_path}", flush=True)
    app = create_app(runtime)
    # uvicorn re-raises the signal it stopped on once it has shut down gracefully; with a
    # handler in place that re-raise is a no-op, so a SIGTERM stop exits with status 0.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    server = uvicorn.Server(server_config(app, settings))
    server.run()
    return 0 if server.started else 3  # 3: it never started (uvicorn.run's STARTUP_FAILURE)


def _accounts(settings: config.Settings, args: argparse.Namespace) -> int:
    from herald.provisioning import create_account, rotate_token
    from herald.runtime import build

    runtime = build(settings)
    try:
        if args.accounts_command == "create":
            account = create_account(runtime, friendly_name=args.friendly_name, is_test=args.test)
        elif args.accounts_command == "rotate-token":
            found = rotate_token(runtime, args.account_sid)
            if found is None:
                print(f"herald: no account {args.account_sid}", file=sys.stderr)
                return 1
            account = found
        else:
            _list_accounts(runtime, as_json=args.json)
            return 0
        if args.json:
            print(json.dumps({"sid": account.sid, "auth_token": account.auth_token}))
        else:
            print(f"AccountSid: {account.sid}\nAuthToken:  {account.auth_token}")
        return 0
    finally:
        runtime.close()


def _list_accounts(runtime: Runtime, *, as_json: bool) -> None:
    from herald.store import accounts as account_store

    rows = runtime.db.run(account_store.list_accounts)
    if as_json:
        listed = [{"sid": a.sid, "friendly_name": a.friendly_name, "test": a.is_test} for a in rows]
        print(json.dumps(listed))
        return
    for a in rows:
        print(f"{a.sid}  {'test ' if a.is_test else 'live '} {a.friendly_name}")
