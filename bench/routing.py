"""Routing benchmark: how many Messaging Service routing decisions per second Herald's
router makes on a large sender pool with many Sticky Sender mappings in the store, and
what sending through a service costs the API against sending from a `From` number.

    .venv/bin/python bench/routing.py [--mappings 200000] [--senders 400] [--batch 200]
                                      [--pool-area-codes 100] [--duration 10] [--rounds 2]
                                      [--pool 20] [--skip-http] [--skip-decisions]

Part 1 (in process, no HTTP): a fresh SQLite database (migrated by `herald.runtime.build`)
gets one service whose pool holds `--senders` numbers and short codes (US long codes over
`--pool-area-codes` area codes, a few toll-free numbers, one Canadian short code) plus an
alphanumeric ID, and `--mappings` Sticky Sender mappings, bulk-inserted. Messages are stored
`accepted` in batches (half to mapped recipients, half to new ones) and routed by the real
`Router` of a real `Runtime`: once without its write (the store reads and the decisions:
"decide"), once with it (`Router.route`: reads, decisions and the group-committed write).
The store's reads are also timed one by one, `mapping_counts` (a GROUP BY over the
service's mappings, cached by the router for 60 s) apart.

Part 2 (HTTP): `herald serve` with the instant carrier simulator; a service with a pool of
`--pool` numbers made through the API; wrk drives message creates in interleaved rounds,
`From=+1…` (rotating over as many numbers outside the pool) against
`MessagingServiceSid=MG…`. It checks that every 2xx left a row and that the service's
messages left `accepted` (routed), and how long that took after wrk stopped.

The last line is one JSON object with every figure. Everything talks to 127.0.0.1 only;
the temporary directories are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from herald.config import Settings
from herald.dispatch.router import Router
from herald.domain.decisions import decide, recipient_of
from herald.domain.encoding import encode_body
from herald.domain.message import Message
from herald.domain.nanp_table import AREA_CODES
from herald.domain.numbers import is_local_area
from herald.domain.queued import QueuedMessage, queued_message
from herald.domain.routing import Recipient, RoutingDecision, Rule
from herald.domain.services import Service
from herald.domain.sids import Prefix
from herald.domain.status import Direction, MessageStatus
from herald.provisioning import create_account
from herald.runtime import Runtime, build
from herald.store import routing as routing_store
from herald.store import services as service_store
from herald.store.messages import insert_message
from herald.store.schema import (
    incoming_numbers,
    service_senders,
    short_codes,
    sticky_mappings,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = Path(sys.executable)
sys.path.insert(0, str(BENCH_DIR))

from api_accept import (  # noqa: E402  (bench/ is no package)
    cpu_seconds,
    filesystem_of,
    free_port,
    machine_busy_seconds,
    peak_rss_mb,
    read_credentials,
)

US_CODES = sorted(c for c, row in AREA_CODES.items() if row[0] == "US" and row[4] == "in_service")
CA_CODES = sorted(c for c, row in AREA_CODES.items() if row[0] == "CA" and row[4] == "in_service")
TOLL_FREE_CODES = ("800", "833", "844", "855", "866", "877", "888")
# Exchanges of the mapped recipients (300–799) and of new ones (800–999), never N11.
MAPPED_EXCHANGES = [e for e in range(300, 800) if e % 100 != 11]
NEW_EXCHANGES = [e for e in range(800, 1000) if e % 100 != 11]
SHORT_CODE = "50001"  # Canadian: a US one would take every US recipient (bench/README.md)
ALPHA = "HERALD"
BODY = "Your Herald code is 482913. It expires in 10 minutes."
CHUNK = 20_000
COUNTS_REPEAT = 3
_wrk_runs = itertools.count(1)


@dataclass(frozen=True)
class Options:
    mappings: int
    senders: int
    pool_area_codes: int
    batch: int
    batches: int
    warmup_batches: int
    duration: int
    rounds: int
    warmup: int
    connections: int
    pool: int
    herald_sync: str
    wrk: str
    seed: int
    skip_http: bool
    skip_decisions: bool

    @property
    def slice_s(self) -> int:
        return max(1, round(self.duration / self.rounds))


def ms(seconds: float) -> float:
    return seconds * 1000


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def vm_kib(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return float(line.split()[1])
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# === part 1: routing decisions in process ================================================


def pool_areas(count: int) -> list[str]:
    """`count` US area codes spread evenly over the table, for the pool's long codes."""
    count = max(1, min(count, len(US_CODES)))
    return [US_CODES[i * len(US_CODES) // count] for i in range(count)]


def mapped_recipient(i: int, per_code: int) -> str:
    """The i-th mapped recipient: ascending in i, so the bulk insert appends to the index."""
    code = US_CODES[i // per_code]
    j = i % per_code
    return f"+1{code}{MAPPED_EXCHANGES[j // 10_000]}{j % 10_000:04d}"


def new_recipient(n: int) -> str:
    """A recipient with no mapping: US, every 20th Canadian, every 50th British."""
    if n % 50 == 49:
        return f"+447700{n % 1_000_000:06d}"  # GB mobile: the alphanumeric ID's path
    codes = CA_CODES if n % 20 == 19 else US_CODES
    rest = n // len(codes)
    return f"+1{codes[n % len(codes)]}{NEW_EXCHANGES[rest // 10_000]}{rest % 10_000:04d}"


def is_new_recipient(to: str) -> bool:
    """Whether `new_recipient` made it (`mapped_recipient` uses exchanges below 800)."""
    return not to.startswith("+1") or int(to[5:8]) >= NEW_EXCHANGES[0]


@dataclass
class Store:
    """What part 1 built: the account, the service, its pool and the mappings."""

    account_sid: str
    service_sid: str
    per_code: int
    long_codes: int
    toll_free: int
    build_s: float = 0.0
    mappings_insert_s: float = 0.0
    db_mb: float = 0.0


def _number(sid: str, account: str, phone: str, kind: str, now: int) -> dict[str, Any]:
    return {
        "sid": sid, "account_sid": account, "phone_number": phone, "friendly_name": phone,
        "country": "US", "number_type": kind, "sms_url": "", "sms_method": "POST",
        "sms_fallback_url": "", "sms_fallback_method": "POST", "cap_voice": True,
        "cap_sms": True, "cap_mms": True, "cap_fax": False, "mps": None,
        "date_created": now, "date_updated": now,
    }  # fmt: skip


def _member(sid: str, account: str, service: str, kind: str, now: int) -> dict[str, Any]:
    return {
        "sid": sid, "account_sid": account, "service_sid": service, "kind": kind,
        "alpha_sender": ALPHA if kind == "alpha_sender" else None, "registered_in": "",
        "date_created": now, "date_updated": now,
    }  # fmt: skip


def build_store(opts: Options, runtime: Runtime) -> tuple[Store, list[str]]:
    """The account, the service and its pool, and the mappings; the pool's number SIDs."""
    started = time.perf_counter()
    account = create_account(runtime, friendly_name="routing bench", is_test=False)
    now = runtime.clock.now_us()
    service_sid = runtime.new_sid(Prefix.SERVICE)
    toll_free = max(1, opts.senders // 25)
    long_codes = opts.senders - 1 - toll_free
    areas = pool_areas(opts.pool_area_codes)
    plan = [(f"+1{areas[i % len(areas)]}201{i:04d}", "local") for i in range(long_codes)]
    plan += [(f"+1{TOLL_FREE_CODES[i % 7]}201{i:04d}", "toll-free") for i in range(toll_free)]
    number_sids = [runtime.new_sid(Prefix.PHONE_NUMBER) for _ in plan]
    short_sid, alpha_sid = runtime.new_sid(Prefix.SHORT_CODE), runtime.new_sid(Prefix.ALPHA_SENDER)
    acct = account.sid
    service = Service(
        sid=service_sid, account_sid=acct, friendly_name="routing bench pool",
        date_created=now, date_updated=now,
    )  # fmt: skip

    def pool(conn: Connection) -> None:
        service_store.insert_service(conn, service)
        conn.execute(
            insert(incoming_numbers),
            [
                _number(sid, acct, phone, kind, now)
                for sid, (phone, kind) in zip(number_sids, plan, strict=True)
            ],
        )
        conn.execute(
            insert(short_codes),
            [{"sid": short_sid, "account_sid": acct, "short_code": SHORT_CODE, "country": "CA",
              "friendly_name": SHORT_CODE, "sms_url": "", "sms_method": "POST",
              "sms_fallback_url": "", "sms_fallback_method": "POST", "cap_sms": True,
              "cap_mms": False, "mps": None, "date_created": now, "date_updated": now}],
        )  # fmt: skip
        members = [_member(sid, acct, service_sid, "phone_number", now) for sid in number_sids]
        members.append(_member(short_sid, acct, service_sid, "short_code", now))
        members.append(_member(alpha_sid, acct, service_sid, "alpha_sender", now))
        conn.execute(insert(service_senders), members)

    runtime.db.run(pool)
    per_code = -(-opts.mappings // len(US_CODES))
    store = Store(acct, service_sid, per_code, long_codes, toll_free)
    rng = random.Random(opts.seed)

    def mappings(conn: Connection) -> None:
        for start in range(0, opts.mappings, CHUNK):
            conn.execute(
                insert(sticky_mappings),
                [
                    {"service_sid": service_sid, "to_number": mapped_recipient(i, per_code),
                     "sender_sid": number_sids[rng.randrange(len(number_sids))],
                     "pinned": False, "date_created": now, "date_updated": now}
                    for i in range(start, min(start + CHUNK, opts.mappings))
                ],
            )  # fmt: skip

    t0 = time.perf_counter()
    runtime.db.run(mappings)
    store.mappings_insert_s = time.perf_counter() - t0
    store.build_s = time.perf_counter() - started
    return store, number_sids


def make_batches(
    opts: Options,
    runtime: Runtime,
    store: Store,
    count: int,
    rng: random.Random,
    fresh: Iterator[int],
) -> list[list[QueuedMessage]]:
    """`count` batches of `accepted` messages stored as the API stores a service send:
    half to recipients with a mapping (drawn at random), half to new recipients."""
    encoded = encode_body(BODY, smart=True)
    now = runtime.clock.now_us()
    mapped = rng.sample(range(opts.mappings), min(opts.mappings, count * opts.batch // 2))
    picks = iter(mapped)
    batches: list[list[Message]] = []
    for _ in range(count):
        batch = []
        for k in range(opts.batch):
            pick = next(picks, None) if k % 2 == 0 else None
            to = mapped_recipient(pick, store.per_code) if pick is not None else None
            batch.append(
                Message(
                    sid=runtime.new_sid(Prefix.MESSAGE), account_sid=store.account_sid,
                    messaging_service_sid=store.service_sid, direction=Direction.OUTBOUND_API,
                    from_number=None, to_number=to or new_recipient(next(fresh)),
                    sender_sid=None, body=BODY, status=MessageStatus.ACCEPTED,
                    encoding=encoded.encoding.value, num_segments=encoded.num_segments,
                    num_media=0, error_code=None, error_message=None, price=None,
                    price_unit="USD", status_callback=None, application_sid=None,
                    validity_period=36_000, smart_encoded=True, provide_feedback=False,
                    attempt=None, max_price=None, tags=None, send_at=None, date_sent=None,
                    date_created=now, date_updated=now,
                )
            )  # fmt: skip
        batches.append(batch)

    def write(conn: Connection) -> None:
        for batch in batches:
            for message in batch:
                insert_message(conn, message)

    runtime.db.run(write)
    return [[queued_message(message) for message in batch] for batch in batches]


@dataclass
class Decisions:
    """What part 1 measured (seconds per batch unless named otherwise)."""

    decide: list[float] = field(default_factory=list)  # reads + plan (no write)
    decide_reads: list[float] = field(default_factory=list)  # Router._context via db.read
    decide_plan: list[float] = field(default_factory=list)  # Planner.plan
    choose: list[float] = field(default_factory=list)  # recipient_of + decide alone
    choose_by_path: dict[str, list[float]] = field(default_factory=dict)  # decide alone
    route: list[float] = field(default_factory=list)  # Router.route: reads + plan + write
    route_write: list[float] = field(default_factory=list)  # its write (group commit)
    read_service: list[float] = field(default_factory=list)
    read_pool: list[float] = field(default_factory=list)
    read_sticky: list[float] = field(default_factory=list)
    mapping_counts: list[float] = field(default_factory=list)
    sticky_hits: int = 0
    routing_json_bytes: list[int] = field(default_factory=list)  # each plan's explanation
    db_growth_bytes: int = 0  # the database files' growth over the route phase
    rules_decide: Counter[str] = field(default_factory=Counter)
    route_statuses: dict[str, int] = field(default_factory=dict)
    route_rules: dict[str, int] = field(default_factory=dict)
    mappings_before: int = 0
    mappings_after: int = 0
    expected_new_mappings: int = 0
    query_plans: dict[str, str] = field(default_factory=dict)
    rss_after_build_mb: float = 0.0
    peak_rss_mb: float = 0.0


def time_reads(
    runtime: Runtime, store: Store, batches: list[list[QueuedMessage]], out: Decisions
) -> None:
    """Each store read of a batch, one by one, on a read connection of its own."""
    sid, acct = store.service_sid, store.account_sid
    with runtime.db.read_engine.connect() as conn, conn.begin():
        for rows in batches:
            recipients = [r.to_number for r in rows]
            t0 = time.perf_counter()
            service_store.get_service(conn, acct, sid)
            t1 = time.perf_counter()
            routing_store.pool_entries(conn, sid)
            t2 = time.perf_counter()
            found = routing_store.sticky_for(conn, sid, recipients)
            t3 = time.perf_counter()
            out.read_service.append(t1 - t0)
            out.read_pool.append(t2 - t1)
            out.read_sticky.append(t3 - t2)
            out.sticky_hits += len(found)
        for _ in range(COUNTS_REPEAT):
            t0 = time.perf_counter()
            routing_store.mapping_counts(conn, sid)
            out.mapping_counts.append(time.perf_counter() - t0)
        probe = batches[0][0].to_number
        statements = {
            "sticky_for": "SELECT * FROM sticky_mappings WHERE service_sid = :s AND "
            "to_number IN (:t)",
            "mapping_counts": "SELECT sender_sid, count(*) FROM sticky_mappings WHERE "
            "service_sid = :s GROUP BY sender_sid",
        }
        for name, sql in statements.items():
            rows_ = conn.execute(text("EXPLAIN QUERY PLAN " + sql), {"s": sid, "t": probe})
            out.query_plans[name] = "; ".join(str(row[-1]) for row in rows_)


async def time_decisions(
    runtime: Runtime, store: Store, batches: list[list[QueuedMessage]], out: Decisions
) -> None:
    """What `Router.route` does before its write, per batch: the reads (`_context`, on the
    read pool as route runs it) and the plan (`Planner.plan`: decisions, explanations, Scaler's
    bookkeeping); then `recipient_of` + `decide` alone on the same context."""
    dispatcher = runtime.dispatcher
    assert dispatcher is not None and dispatcher.router is not None
    router: Router = dispatcher.router
    lookup = dispatcher.transport.lookup
    # the plan counts its choices into the router's cached mapping counts, as route would;
    # nothing is written here, so put the counts back afterwards.
    saved = {key: (at, dict(counts)) for key, (at, counts) in router._counts.items()}
    for rows in batches:
        recipients = [r.to_number for r in rows]
        t0 = time.perf_counter()
        context = await runtime.db.read(
            partial(router._context, store.service_sid, store.account_sid, recipients)
        )
        t1 = time.perf_counter()
        fresh_sticky = dict(context.sticky)
        plans = router.planner.plan(context, list(rows), lookup)
        t2 = time.perf_counter()
        out.decide_reads.append(t1 - t0)
        out.decide_plan.append(t2 - t1)
        out.decide.append(t2 - t0)
        out.rules_decide.update(p.decision.rule.value for p in plans)
        out.routing_json_bytes += [len(p.routing) for p in plans]
        service = context.service
        assert service is not None
        waits = router.planner._waits(store.account_sid, context.pool)
        t3 = time.perf_counter()
        for row in rows:
            recipient = recipient_of(row.to_number, lookup)
            t4 = time.perf_counter()
            decision = decide(
                service, context.pool, row, recipient,
                mapping=fresh_sticky.get(row.to_number), waits=waits, counts=context.counts,
            )  # fmt: skip
            took = time.perf_counter() - t4
            out.choose_by_path.setdefault(path_of(decision, recipient), []).append(took)
        out.choose.append(time.perf_counter() - t3)
    router._counts = saved


def path_of(decision: RoutingDecision, recipient: Recipient) -> str:
    """The way through `choose_sender` a decision took."""
    sender = decision.sender
    if decision.rule is Rule.AREA_CODE_GEOMATCH and sender is not None:
        local = sender.area_code and recipient.area_code
        if local and is_local_area(sender.area_code or "", recipient.area_code or ""):
            return "geomatch_local"
        return "geomatch_no_local_sender"
    return decision.rule.value


async def time_routes(
    runtime: Runtime, batches: list[list[QueuedMessage]], out: list[float], writes: list[float]
) -> None:
    """`Router.route` per batch; its group-committed write (`db.write`) timed apart."""
    dispatcher = runtime.dispatcher
    assert dispatcher is not None and dispatcher.router is not None
    db = runtime.db
    write = db.write

    async def timed_write(fn: Callable[[Connection], Any], *, first: bool = False) -> Any:
        t0 = time.perf_counter()
        try:
            return await write(fn, first=first)
        finally:
            writes.append(time.perf_counter() - t0)

    db.write = timed_write  # type: ignore[method-assign]
    try:
        for rows in batches:
            t0 = time.perf_counter()
            await dispatcher.router.route(rows)
            out.append(time.perf_counter() - t0)
    finally:
        del db.write


def db_bytes(data_dir: Path) -> int:
    """The SQLite database with its WAL."""
    return sum(p.stat().st_size for p in data_dir.glob("herald.db*") if p.is_file())


def count_mappings(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM sticky_mappings")).scalar_one())


def route_outcome(runtime: Runtime, sids: list[str], out: Decisions) -> None:
    """Statuses and rules of the messages the route phase routed, and the mapping count."""

    def read(conn: Connection) -> None:
        statuses: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for start in range(0, len(sids), 500):
            chunk = sids[start : start + 500]
            marks = ",".join(f":s{i}" for i in range(len(chunk)))
            rows = conn.execute(
                text(
                    "SELECT status, json_extract(routing, '$.rule') FROM messages "
                    f"WHERE sid IN ({marks})"
                ),
                {f"s{i}": sid for i, sid in enumerate(chunk)},
            )
            for status, rule in rows:
                statuses[status] += 1
                rules[rule or "-"] += 1
        out.route_statuses = dict(statuses)
        out.route_rules = dict(rules)
        out.mappings_after = count_mappings(conn)

    runtime.db.run(read)


def run_decisions(opts: Options) -> tuple[Store, Decisions]:
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-routing-"))
    settings = Settings(
        data_dir=data_dir,
        simulator_latency="instant",
        simulator_seed=1,
        sqlite_synchronous=opts.herald_sync,
        callback_processes=0,
        log_level="WARNING",
    )
    runtime = build(settings)
    out = Decisions()
    try:
        print(
            f"part 1: building the store: {opts.senders} senders "
            f"(+1 alphanumeric ID), {opts.mappings:,} mappings …",
            flush=True,
        )
        store, _ = build_store(opts, runtime)
        rng = random.Random(opts.seed + 1)
        fresh = itertools.count()
        n_warm, n = opts.warmup_batches, opts.batches
        warm = make_batches(opts, runtime, store, n_warm, rng, fresh)
        decide_batches = make_batches(opts, runtime, store, n, rng, fresh)
        route_batches = make_batches(opts, runtime, store, n, rng, fresh)
        store.db_mb = db_bytes(data_dir) / 2**20
        print(
            f"  built in {store.build_s:.1f} s (mappings: {store.mappings_insert_s:.1f} s, "
            f"{opts.mappings / max(store.mappings_insert_s, 1e-9):,.0f} rows/s); "
            f"database {store.db_mb:.0f} MB; {(2 * n + n_warm) * opts.batch:,} messages "
            "stored `accepted`",
            flush=True,
        )
        gc.collect()
        out.rss_after_build_mb = vm_kib("VmRSS") / 1024
        reset_peak_rss()
        time_reads(runtime, store, decide_batches, out)

        async def measure() -> None:
            await time_routes(runtime, warm, [], [])  # caches: senders, counts, parsed numbers
            await time_decisions(runtime, store, decide_batches, out)
            out.mappings_before = await runtime.db.read(count_mappings)
            size = db_bytes(data_dir)
            await time_routes(runtime, route_batches, out.route, out.route_write)
            out.db_growth_bytes = db_bytes(data_dir) - size

        # Every new recipient gets a mapping.
        out.expected_new_mappings = sum(
            1 for rows in route_batches for r in rows if is_new_recipient(r.to_number)
        )
        asyncio.run(measure())
        out.peak_rss_mb = vm_kib("VmHWM") / 1024
        route_outcome(runtime, [r.sid for rows in route_batches for r in rows], out)
    finally:
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return store, out


def decisions_json(opts: Options, store: Store, d: Decisions) -> dict[str, object]:
    batch = opts.batch
    decided = batch * len(d.decide)
    routed = batch * len(d.route)
    return {
        "mappings": opts.mappings,
        "senders": opts.senders,
        "pool_area_codes": len(pool_areas(opts.pool_area_codes)),
        "batch": batch,
        "batches": opts.batches,
        "build_s": round(store.build_s, 2),
        "mappings_insert_rows_per_s": round(opts.mappings / max(store.mappings_insert_s, 1e-9)),
        "db_mb": round(store.db_mb, 1),
        "decisions_per_s": round(routed / sum(d.route), 1) if d.route else None,
        "route_p50_ms": round(ms(pct(d.route, 50)), 2),
        "route_p99_ms": round(ms(pct(d.route, 99)), 2),
        "route_write_p50_ms": round(ms(pct(d.route_write, 50)), 2),
        "route_write_p99_ms": round(ms(pct(d.route_write, 99)), 2),
        "decide_decisions_per_s": round(decided / sum(d.decide), 1) if d.decide else None,
        "decide_p50_ms": round(ms(pct(d.decide, 50)), 2),
        "decide_p99_ms": round(ms(pct(d.decide, 99)), 2),
        "decide_reads_p50_ms": round(ms(pct(d.decide_reads, 50)), 2),
        "decide_plan_p50_ms": round(ms(pct(d.decide_plan, 50)), 2),
        "choose_us_per_msg": round(1e6 * sum(d.choose) / max(decided, 1), 1),
        "plan_us_per_msg": round(1e6 * sum(d.decide_plan) / max(decided, 1), 1),
        "read_service_p50_ms": round(ms(pct(d.read_service, 50)), 3),
        "read_pool_p50_ms": round(ms(pct(d.read_pool, 50)), 2),
        "read_pool_p99_ms": round(ms(pct(d.read_pool, 99)), 2),
        "read_sticky_p50_ms": round(ms(pct(d.read_sticky, 50)), 2),
        "read_sticky_p99_ms": round(ms(pct(d.read_sticky, 99)), 2),
        "mapping_counts_ms": round(ms(statistics.median(d.mapping_counts)), 1),
        "mapping_counts_max_ms": round(ms(max(d.mapping_counts)), 1),
        "routing_json_bytes_mean": round(statistics.fmean(d.routing_json_bytes or [0])),
        "db_growth_bytes_per_routed_msg": round(d.db_growth_bytes / max(routed, 1)),
        "choose_us_by_path": {
            path: round(1e6 * statistics.fmean(times), 1)
            for path, times in sorted(d.choose_by_path.items())
        },
        "choose_count_by_path": {p: len(t) for p, t in sorted(d.choose_by_path.items())},
        "sticky_hit_share": round(d.sticky_hits / max(batch * len(d.read_sticky), 1), 3),
        "decide_rules": dict(d.rules_decide),
        "route_statuses": d.route_statuses,
        "route_rules": d.route_rules,
        "new_mappings": d.mappings_after - d.mappings_before,
        "expected_new_mappings": d.expected_new_mappings,
        "rss_after_build_mb": round(d.rss_after_build_mb, 1),
        "routing_peak_rss_mb": round(d.peak_rss_mb, 1),
    }


def print_decisions(opts: Options, fig: dict[str, Any], d: Decisions) -> None:
    b = opts.batch
    print(
        f"  route (reads + decide + write): {fig['decisions_per_s']:>9,.0f} decisions/s  "
        f"batch of {b}: p50 {fig['route_p50_ms']:.1f} ms  p99 {fig['route_p99_ms']:.1f} ms "
        f"(the write: p50 {fig['route_write_p50_ms']:.1f} ms, p99 {fig['route_write_p99_ms']:.1f})"
    )
    print(
        f"  decide (reads + decide, no write): {fig['decide_decisions_per_s']:>6,.0f} "
        f"decisions/s  batch of {b}: p50 {fig['decide_p50_ms']:.1f} ms  "
        f"p99 {fig['decide_p99_ms']:.1f} ms (reads {fig['decide_reads_p50_ms']:.1f} ms, plan "
        f"{fig['decide_plan_p50_ms']:.1f} ms)"
    )
    print(
        f"  per message: plan {fig['plan_us_per_msg']:.0f} µs, of which recipient_of + decide "
        f"{fig['choose_us_per_msg']:.0f} µs (the rest: explanation JSON, Scaler bookkeeping)"
    )
    paths = ", ".join(
        f"{path} {fig['choose_us_by_path'][path]:,.0f} µs (×{n:,})"
        for path, n in fig["choose_count_by_path"].items()
    )
    print(f"  decide alone, mean per message by path: {paths}")
    print(
        f"  explanation (messages.routing) {fig['routing_json_bytes_mean']:,} bytes of JSON per "
        f"message; the database grew {fig['db_growth_bytes_per_routed_msg']:,} bytes per routed "
        "message (WAL included)"
    )
    print(
        f"  store reads per batch (p50 / p99 ms): service {fig['read_service_p50_ms']:.2f}, "
        f"pool_entries {fig['read_pool_p50_ms']:.2f} / {fig['read_pool_p99_ms']:.2f}, "
        f"sticky_for {fig['read_sticky_p50_ms']:.2f} / {fig['read_sticky_p99_ms']:.2f} "
        f"({fig['sticky_hit_share']:.0%} found)"
    )
    print(
        f"  mapping_counts (GROUP BY over {opts.mappings:,} mappings, cached 60 s by the "
        f"router): {fig['mapping_counts_ms']:.0f} ms (max {fig['mapping_counts_max_ms']:.0f} ms "
        f"of {len(d.mapping_counts)})"
    )
    for name, plan in d.query_plans.items():
        print(f"  query plan, {name}: {plan}")
    print(f"  rules (decide phase): {dict(d.rules_decide.most_common())}")
    print(
        f"  route phase: statuses {d.route_statuses}, rules {d.route_rules}; new mappings "
        f"{fig['new_mappings']:,} (expected {fig['expected_new_mappings']:,})"
    )
    print(
        f"  memory: RSS {fig['rss_after_build_mb']:.0f} MB after the build, peak "
        f"{fig['routing_peak_rss_mb']:.0f} MB while routing",
        flush=True,
    )


def check_decisions(fig: dict[str, Any], d: Decisions, opts: Options) -> list[str]:
    warnings = []
    routed = opts.batch * len(d.route)
    if d.route_statuses.get("queued", 0) != routed:
        warnings.append(f"routing: {routed} routed but statuses are {d.route_statuses}")
    if fig["new_mappings"] != fig["expected_new_mappings"]:
        warnings.append(
            f"routing: {fig['new_mappings']} new mappings, {fig['expected_new_mappings']} expected"
        )
    return warnings


# === part 2: create throughput over HTTP =================================================

LUA = r"""
-- wrk script written by bench/routing.py: POST a message create; the sender part of the
-- form rotates over args[3] (comma-separated, form-encoded), To over the area codes in
-- args[4] with a fresh local number per request. done() prints WRK_RESULT like
-- bench/accept.lua does.
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
end
local counter = 0
local senders = {}
local areas = {}
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. (args[1] or "")
  counter = (tonumber(args[2]) or 0) + ((id or 1) - 1) * 500000
  for s in string.gmatch(args[3], "[^,]+") do table.insert(senders, s) end
  for a in string.gmatch(args[4], "[^,]+") do table.insert(areas, a) end
end
function request()
  counter = counter + 1
  local body = string.format(
    "To=%%2B1%s%07d&%s&Body=Your+Herald+code+is+482913.",
    areas[counter % #areas + 1], 3000000 + counter % 7000000, senders[counter % #senders + 1]
  )
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  print(string.format(
    'WRK_RESULT {"requests":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)
  ))
end
"""

POOL_AREAS = (
    "212", "213", "305", "312", "404", "415", "503", "512", "617", "702",
    "206", "303", "313", "602", "614", "713", "801", "813", "919", "971",
)  # fmt: skip
# Recipients: half in the pool's area codes (Area Code Geomatch finds a local sender),
# half elsewhere (Scaler chooses among every number).
TO_AREAS = (*POOL_AREAS[:10], "201", "216", "334", "405", "502", "608", "720", "802", "907", "208")


@dataclass
class Slice:
    kind: str  # direct | service
    wrk: dict[str, float]
    server_cpu_s: float
    machine_cpu_s: float
    wrk_cpu_s: float
    stored: int = 0  # rows of this kind added during the slice
    accepted_at_stop: int = 0  # service messages still `accepted` when wrk stopped
    drain_s: float = 0.0  # until none was

    @property
    def ok(self) -> int:
        return int(self.wrk["requests"]) - int(self.wrk["non2xx"])

    @property
    def seconds(self) -> float:
        return self.wrk["duration_us"] / 1e6

    @property
    def socket_errors(self) -> int:
        keys = ("connect_errors", "read_errors", "write_errors", "timeouts")
        return sum(int(self.wrk[k]) for k in keys)


@dataclass
class Http:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    account_sid: str = ""
    auth_token: str = ""
    service_sid: str = ""
    direct: list[str] = field(default_factory=list)
    slices: list[Slice] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def messages_url(self) -> str:
        return f"{self.base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "herald.db"

    def post(self, path: str, data: dict[str, str]) -> dict[str, Any]:
        response = httpx.post(
            self.base + path, data=data, auth=(self.account_sid, self.auth_token), timeout=10
        )
        if response.status_code != 201:
            raise SystemExit(f"POST {path} {data}: {response.status_code} {response.text}")
        found: dict[str, Any] = response.json()
        return found


@contextlib.contextmanager
def herald_running(opts: Options) -> Iterator[Http]:
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-routing-http-"))
    env = {
        **os.environ,
        "HERALD_DATA_DIR": str(data_dir),
        "HERALD_LOG_LEVEL": "WARNING",
        "HERALD_SIMULATOR_LATENCY": "instant",
        "HERALD_SIMULATOR_SEED": "1",
        "HERALD_SQLITE_SYNCHRONOUS": opts.herald_sync,
        # wrk's connections are one account's: room for each one's request (429 beyond).
        "HERALD_API_CONCURRENCY": str(max(100, opts.connections)),
    }
    env.pop("HERALD_DATABASE_URL", None)
    port = free_port()
    argv = [str(PYTHON.parent / "herald"), "serve", "--port", str(port)]
    with (data_dir / "server.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    server = Http(proc, port, data_dir)
    try:
        wait_healthy(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_healthy(server: Http, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.stderr.write((server.data_dir / "server.log").read_text(errors="replace")[-4000:])
    raise SystemExit(f"Herald did not become healthy on port {server.port}")


def set_up_http(opts: Options, server: Http) -> None:
    """The service and its pool, and as many numbers outside it for direct sends."""
    server.account_sid, server.auth_token = read_credentials(server.data_dir / "credentials.env")
    numbers = f"/2010-04-01/Accounts/{server.account_sid}/IncomingPhoneNumbers.json"
    service = server.post("/v1/Services", {"FriendlyName": "routing bench"})
    server.service_sid = service["sid"]
    for i in range(opts.pool):
        area = POOL_AREAS[i % len(POOL_AREAS)]
        pn = server.post(numbers, {"PhoneNumber": f"+1{area}201{i:04d}"})
        server.post(
            f"/v1/Services/{server.service_sid}/PhoneNumbers", {"PhoneNumberSid": pn["sid"]}
        )
        direct = f"+1{area}202{i:04d}"
        server.post(numbers, {"PhoneNumber": direct})
        server.direct.append(direct)


def sender_arg(server: Http, kind: str) -> str:
    if kind == "service":
        return f"MessagingServiceSid={server.service_sid}"
    return ",".join("From=" + n.replace("+", "%2B") for n in server.direct)


def run_wrk(
    opts: Options, server: Http, lua: Path, kind: str, seconds: int
) -> tuple[dict[str, float], float]:
    import base64

    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    argv = [opts.wrk, "-t1", f"-c{opts.connections}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(lua), server.messages_url, "--", auth, str(next(_wrk_runs) * 1_000_000)]
    argv += [sender_arg(server, kind), ",".join(TO_AREAS)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line.removeprefix("WRK_RESULT ")), usage.ru_utime + usage.ru_stime
    raise SystemExit(f"wrk printed no result (exit {proc.returncode}):\n{output}")


def db_query(server: Http, sql: str) -> list[tuple[Any, ...]]:
    uri = f"file:{server.db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        return conn.execute(sql).fetchall()


def counts_by_kind(server: Http) -> dict[str, int]:
    rows = db_query(
        server,
        "SELECT messaging_service_sid IS NOT NULL, count(*) FROM messages GROUP BY 1",
    )
    found = {"service" if flag else "direct": int(n) for flag, n in rows}
    return {"direct": found.get("direct", 0), "service": found.get("service", 0)}


def accepted_count(server: Http) -> int:
    return int(db_query(server, "SELECT count(*) FROM messages WHERE status = 'accepted'")[0][0])


def drain(server: Http, timeout_s: float = 60.0) -> tuple[int, float]:
    """Service messages still `accepted` now, and seconds until none is (or the timeout)."""
    start = time.perf_counter()
    first = left = accepted_count(server)
    while left and time.perf_counter() - start < timeout_s:
        time.sleep(0.02)
        left = accepted_count(server)
    return first, time.perf_counter() - start


def measure_slice(opts: Options, server: Http, lua: Path, kind: str) -> Slice:
    before = counts_by_kind(server)
    cpu0, busy0 = cpu_seconds(server.proc.pid), machine_busy_seconds()
    result, wrk_cpu = run_wrk(opts, server, lua, kind, opts.slice_s)
    cpu = cpu_seconds(server.proc.pid) - cpu0
    piece = Slice(kind, result, cpu, machine_busy_seconds() - busy0, wrk_cpu)
    if kind == "service":
        piece.accepted_at_stop, piece.drain_s = drain(server)
    time.sleep(0.3)  # requests in flight when wrk stopped reach their commit
    piece.stored = counts_by_kind(server)[kind] - before[kind]
    return piece


def run_http(opts: Options) -> Http:
    with herald_running(opts) as server:
        set_up_http(opts, server)
        lua = server.data_dir / "routing.lua"
        lua.write_text(LUA)
        kinds = ["direct", "service"]
        for kind in kinds:
            if opts.warmup > 0:
                run_wrk(opts, server, lua, kind, opts.warmup)
        drain(server)
        time.sleep(0.5)
        for r in range(opts.rounds):
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                server.slices.append(measure_slice(opts, server, lua, kind))
                print(f"  round {r + 1}, {kind}: {slice_line(server.slices[-1])}", flush=True)
        server.final = final_state(server)
        server.final["peak_rss_mb"] = peak_rss_mb(server.proc.pid)
    return server


def final_state(server: Http) -> dict[str, Any]:
    time.sleep(0.5)
    statuses = db_query(
        server,
        "SELECT status, count(*) FROM messages WHERE messaging_service_sid IS NOT NULL "
        "GROUP BY status",
    )
    rules = db_query(
        server,
        "SELECT json_extract(routing, '$.rule'), count(*) FROM messages "
        "WHERE messaging_service_sid IS NOT NULL GROUP BY 1",
    )
    errors_ = db_query(
        server,
        "SELECT error_code, count(*) FROM messages WHERE status = 'failed' GROUP BY 1",
    )
    senders = db_query(
        server,
        "SELECT count(DISTINCT sender_sid) FROM messages WHERE messaging_service_sid IS NOT NULL",
    )
    mappings = db_query(server, "SELECT count(*) FROM sticky_mappings")
    return {
        "service_statuses": {str(s): int(n) for s, n in statuses},
        "service_rules": {str(r): int(n) for r, n in rules},
        "failed_error_codes": {str(c): int(n) for c, n in errors_},
        "service_senders_used": int(senders[0][0]),
        "sticky_mappings": int(mappings[0][0]),
    }


def slice_line(s: Slice) -> str:
    extra = ""
    if s.kind == "service":
        extra = f"; {s.accepted_at_stop} accepted at stop, drained in {s.drain_s:.2f} s"
    return (
        f"{s.ok / s.seconds:,.0f} msg/s, p50 {s.wrk['p50_us'] / 1000:.1f} ms, p99 "
        f"{s.wrk['p99_us'] / 1000:.1f} ms, {s.ok:,} 2xx, {int(s.wrk['non2xx'])} non-2xx, "
        f"{s.stored:,} rows{extra}"
    )


def kind_figures(server: Http, kind: str) -> dict[str, Any]:
    slices = [s for s in server.slices if s.kind == kind]
    ok = sum(s.ok for s in slices)
    seconds = sum(s.seconds for s in slices)
    cpu = sum(s.server_cpu_s for s in slices)
    other = sum(s.machine_cpu_s - s.server_cpu_s - s.wrk_cpu_s for s in slices)
    return {
        f"{kind}_msgs_per_s": round(ok / seconds, 1),
        f"{kind}_p50_ms": round(statistics.median(s.wrk["p50_us"] for s in slices) / 1000, 2),
        f"{kind}_p99_ms": round(statistics.median(s.wrk["p99_us"] for s in slices) / 1000, 2),
        f"{kind}_cpu_s_per_1k_msgs": round(cpu / max(ok, 1) * 1000, 3),
        f"{kind}_ok_responses": ok,
        f"{kind}_non2xx_responses": sum(int(s.wrk["non2xx"]) for s in slices),
        f"{kind}_socket_errors": sum(s.socket_errors for s in slices),
        f"{kind}_stored_msgs": sum(s.stored for s in slices),
        f"{kind}_other_load_cores": round(max(0.0, other) / seconds, 2),
        f"{kind}_round_msgs_per_s": [round(s.ok / s.seconds, 1) for s in slices],
    }


def http_json(opts: Options, server: Http) -> dict[str, object]:
    direct, service = kind_figures(server, "direct"), kind_figures(server, "service")
    pieces = [s for s in server.slices if s.kind == "service"]
    out: dict[str, object] = {
        "connections": opts.connections,
        "pool": opts.pool,
        "duration_s": opts.slice_s * opts.rounds,
        "rounds": opts.rounds,
        "herald_synchronous": opts.herald_sync,
        **direct,
        **service,
        "accepted_at_stop_max": max(s.accepted_at_stop for s in pieces),
        "drain_s_max": round(max(s.drain_s for s in pieces), 2),
        "accepted_left": server.final["service_statuses"].get("accepted", 0),
        "server_peak_rss_mb": round(server.final["peak_rss_mb"], 1),
        **{k: v for k, v in server.final.items() if k != "peak_rss_mb"},
    }
    out["ratio"] = round(float(service["service_msgs_per_s"]) / direct["direct_msgs_per_s"], 3)
    out["cpu_ratio"] = round(
        direct["direct_cpu_s_per_1k_msgs"] / service["service_cpu_s_per_1k_msgs"], 3
    )
    return out


def print_http(fig: dict[str, Any]) -> None:
    for kind in ("direct", "service"):
        print(
            f"  {kind:<8} {fig[f'{kind}_msgs_per_s']:>7,.0f} msg/s  p50 "
            f"{fig[f'{kind}_p50_ms']:6.1f} ms  p99 {fig[f'{kind}_p99_ms']:6.1f} ms  CPU "
            f"{fig[f'{kind}_cpu_s_per_1k_msgs']:.2f} s/1k msgs  rounds "
            f"{fig[f'{kind}_round_msgs_per_s']}  other load {fig[f'{kind}_other_load_cores']} cores"
        )
    print(
        f"  ratio service / direct: {fig['ratio']:.3f} (CPU per message, direct / service: "
        f"{fig['cpu_ratio']:.3f}); server peak RSS {fig['server_peak_rss_mb']:.0f} MB"
    )
    print(
        f"  service messages: {fig['service_statuses']}, rules {fig['service_rules']}, "
        f"{fig['service_senders_used']} pool senders used, {fig['sticky_mappings']:,} mappings; "
        f"at most {fig['accepted_at_stop_max']} accepted when wrk stopped, drained within "
        f"{fig['drain_s_max']:.2f} s"
    )


def check_http(fig: dict[str, Any], opts: Options) -> list[str]:
    warnings = []
    for kind in ("direct", "service"):
        ok, stored = fig[f"{kind}_ok_responses"], fig[f"{kind}_stored_msgs"]
        if fig[f"{kind}_non2xx_responses"] or fig[f"{kind}_socket_errors"]:
            warnings.append(
                f"{kind}: {fig[f'{kind}_non2xx_responses']} non-2xx, "
                f"{fig[f'{kind}_socket_errors']} socket errors"
            )
        if stored < ok:
            warnings.append(f"{kind}: LOST MESSAGES: {ok} accepted, {stored} stored")
        if stored > ok + opts.connections * opts.rounds + fig[f"{kind}_socket_errors"]:
            warnings.append(f"{kind}: {stored} stored but only {ok} accepted")
    if fig["accepted_left"]:
        warnings.append(f"service: {fig['accepted_left']} messages were never routed")
    if fig["failed_error_codes"]:
        warnings.append(f"failed messages: {fig['failed_error_codes']}")
    return warnings


# === main ===============================================================================


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add: Callable[..., Any] = parser.add_argument
    add("--mappings", type=int, default=200_000, help="Sticky Sender mappings (issue: 1000000)")
    add("--senders", type=int, default=400, help="numbers and short codes in the pool (≤ 400)")
    add("--pool-area-codes", type=int, default=100, help="US area codes of the long codes")
    add("--batch", type=int, default=200, help="messages per routing batch")
    add("--batches", type=int, default=8, help="measured batches per phase")
    add("--warmup-batches", type=int, default=2, help="routed before measuring")
    add("--duration", type=int, default=10, help="seconds of wrk per kind, over the rounds")
    add("--rounds", type=int, default=2, help="interleaved rounds (direct, service)")
    add("--warmup", type=int, default=2, help="seconds of wrk per kind before measuring")
    add("--connections", type=int, default=64, help="concurrent HTTP clients (wrk -c)")
    add("--pool", type=int, default=20, help="numbers in the HTTP part's pool (and direct)")
    add("--herald-sync", choices=["FULL", "NORMAL"], default="FULL")
    add("--wrk", default=shutil.which("wrk") or "wrk", help="wrk binary")
    add("--seed", type=int, default=1)
    add("--skip-http", action="store_true", help="part 1 only")
    add("--skip-decisions", action="store_true", help="part 2 only")
    args = parser.parse_args(argv)
    return Options(
        mappings=max(1, args.mappings),
        senders=min(400, max(3, args.senders)),
        pool_area_codes=max(1, args.pool_area_codes),
        batch=max(2, args.batch),
        batches=max(1, args.batches),
        warmup_batches=max(0, args.warmup_batches),
        duration=max(1, args.duration),
        rounds=max(1, args.rounds),
        warmup=max(0, args.warmup),
        connections=max(1, args.connections),
        pool=min(len(POOL_AREAS) * 100, max(1, args.pool)),
        herald_sync=args.herald_sync,
        wrk=args.wrk,
        seed=args.seed,
        skip_http=args.skip_http,
        skip_decisions=args.skip_decisions,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if not opts.skip_http and shutil.which(opts.wrk) is None:
        raise SystemExit("wrk not found: run `make bench` or `apt-get install -y wrk`")
    tmp = Path(tempfile.gettempdir())
    print(
        f"routing: SQLite (synchronous={opts.herald_sync}) on {filesystem_of(tmp)} ({tmp}); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    summary: dict[str, object] = {}
    warnings: list[str] = []
    started = time.perf_counter()
    if not opts.skip_decisions:
        store, decisions = run_decisions(opts)
        fig = decisions_json(opts, store, decisions)
        print_decisions(opts, fig, decisions)
        warnings += check_decisions(fig, decisions, opts)
        summary.update(fig)
    if not opts.skip_http:
        print(
            f"part 2: herald serve, wrk -t1 -c{opts.connections}, {opts.rounds} rounds of "
            f"{opts.slice_s} s per kind (+{opts.warmup} s warm-up), pool of {opts.pool}",
            flush=True,
        )
        server = run_http(opts)
        hfig = http_json(opts, server)
        print_http(hfig)
        warnings += check_http(hfig, opts)
        summary.update(hfig)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    sys.stdout.flush()
    for warning in warnings:
        print(f"WARNING: {warning} -- these figures are not trustworthy", file=sys.stderr)
    sys.stderr.flush()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
