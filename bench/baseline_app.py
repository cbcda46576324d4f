"""The bare baseline for bench/api_accept.py: the least an SMS-accepting API can do.

A minimal Starlette app on the same path as Herald's message create. Each POST parses
the form with `urllib.parse.parse_qsl` on the raw body, checks HTTP Basic auth against a
constant, inserts one row (sid, to, from, body, status, created) into SQLite with a
synchronous `sqlite3` connection on the event-loop thread and commits it: one commit per
request, no group commit, WAL mode, `PRAGMA synchronous` as given. Served by uvicorn
like Herald: uvloop + httptools, one worker, no access log, no proxy headers.

    python bench/baseline_app.py --port 8081 --db /tmp/base.db --synchronous NORMAL
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sqlite3
import time
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "b" * 32
AUTH_HEADER = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    sid TEXT PRIMARY KEY,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created INTEGER NOT NULL
)
"""
COLUMNS = ("sid", "to_number", "from_number", "body", "status", "created")
INSERT = f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
KEYS = ("sid", "to", "from", "body", "status", "date_created")


def open_db(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(SCHEMA)
    conn.commit()
    return conn


def create_app(conn: sqlite3.Connection) -> Starlette:
    async def create(request: Request) -> Response:
        if request.headers.get("authorization") != AUTH_HEADER:
            return Response(b'{"code":20003}', status_code=401, media_type="application/json")
        form = dict(parse_qsl((await request.body()).decode()))
        to, from_, body = form.get("To"), form.get("From"), form.get("Body", "")
        if not to or not from_:
            return Response(b'{"code":21604}', status_code=400, media_type="application/json")
        row = ("SM" + secrets.token_hex(16), to, from_, body, "queued", time.time_ns() // 1000)
        conn.execute(INSERT, row)
        conn.commit()
        content = json.dumps(dict(zip(KEYS, row, strict=True)))
        return Response(content, status_code=201, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route(PATH, create, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite file to write")
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL")
    args = parser.parse_args()
    app = create_app(open_db(args.db, args.synchronous))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=None,
        access_log=False,
        proxy_headers=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
