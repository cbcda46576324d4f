"""`herald campaign dry-run|send|sync|report FILE.toml [--json] [--KEY VALUE …]`.

Each command prints a summary table and, with `--json`, one JSON object as its last line;
progress and the interaction log go to stderr. Exit status: 0 when the command ran to the
end (recipients the API refused are in its counts), 1 when the target or the campaign
database failed it, 2 when the campaign file or a flag is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from herald.campaign.api_client import ApiError
from herald.campaign.settings import KEYS, CampaignFileError, load
from herald.campaign.store import CampaignDatabaseError
from herald.campaign.target import TargetError
from herald.campaign.template import TemplateError

COMMANDS = ("dry-run", "send", "sync", "report")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald campaign", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("file", type=Path, help="the campaign file (TOML)")
    parser.add_argument("--json", action="store_true", help="end with the totals as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--details", type=Path, help="dry-run: write each recipient's estimate here (CSV)"
    )
    parser.add_argument("--out-dir", type=Path, help="report: where the CSV and JSON go")
    parser.add_argument("--log-level", default="INFO", help="the interaction log's level")
    keys = parser.add_argument_group("campaign keys (each also HERALD_CAMPAIGN_<SECTION>_<KEY>)")
    for key in KEYS:
        keys.add_argument(
            key.flag, dest=key.dotted, metavar=key.kind.__name__.upper(), help=key.help
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = {key.dotted: getattr(args, key.dotted) for key in KEYS}
    try:
        campaign = load(args.file, os.environ, flags)
        _logging(args.log_level, campaign.name)
        totals = asyncio.run(_run(args, campaign))
    except (CampaignFileError, TemplateError) as exc:
        print(f"herald campaign: {exc}", file=sys.stderr)
        return 2
    except (TargetError, CampaignDatabaseError, ApiError, SQLAlchemyError) as exc:
        print(f"herald campaign: {exc}", file=sys.stderr)
        return 1
    _print(args.command, totals, as_json=args.json)
    return 0


async def _run(args: argparse.Namespace, campaign: Any) -> dict[str, Any]:
    from herald.campaign.notify import notify

    if args.command == "dry-run":
        from herald.campaign.dry_run import dry_run

        return await dry_run(campaign, details=args.details)
    if args.command == "report":
        from herald.campaign.report import report

        return report(campaign, args.out_dir)
    if args.command == "send":
        from herald.campaign.send_command import send

        totals = await send(campaign, show_progress=not args.no_progress)
    else:
        from herald.campaign.sync import sync

        totals = await sync(campaign)
    totals["notified"] = await notify(campaign, args.command, totals)
    return totals


def _print(command: str, totals: dict[str, Any], *, as_json: bool) -> None:
    table = Table(title=f"herald campaign {command}: {totals.get('campaign', '')}")
    table.add_column("")
    table.add_column("", justify="right")
    for name, value in totals.items():
        if name != "campaign" and not isinstance(value, dict | list):
            table.add_row(
                name.replace("_", " ").capitalize(),
                f"{value:,}"
                if isinstance(value, int) and not isinstance(value, bool)
                else str(value),
            )
    Console(soft_wrap=True).print(table)
    if as_json:
        sys.stdout.write(json.dumps(totals, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def _logging(level: str, name: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s Action: {name} Activity: %(message)s", "%Y/%m/%d %H:%M:%S")
    )
    logger = logging.getLogger("herald.campaign")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper() if level.upper() in logging._nameToLevel else "INFO")
    logger.propagate = False
