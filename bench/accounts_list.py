"""`GET /v1/accounts` pages at 100k and 1M accounts on PostgreSQL: p50/p99 per query shape.

Fills a scratch database with N accounts (one `generate_series` INSERT), then
times `accounts.service.list_accounts` — the function behind the endpoint — for
the first page, a deep page (keyset `starting_after`), each filter and a text
search. In the same run it times the deep page with OFFSET (what a naive list
does) and prints the ratio.

    .venv/bin/python bench/accounts_list.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import select, text

from platform_service.accounts.models import ConnectedAccount
from platform_service.accounts.service import list_accounts
from platform_service.db.engine import create_engine, create_session_maker
from platform_service.db.migrate import upgrade

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")

FILL = """
INSERT INTO accounts (id, external_ref, email, country, business_name, charge_model, account_kind,
    metadata, search_text, status, status_reason, next_action, due_fields, charges_enabled,
    payouts_enabled, details_submitted, onboarding_started, stripe_snapshot, created_at, updated_at)
SELECT 'acct_b' || lpad(i::text, 10, '0'),
       'ref-' || i,
       'seller' || i || '@example.com',
       (ARRAY['US','FR','DE','GB','NL'])[1 + i % 5],
       'Shop ' || substr(md5(i::text), 1, 10),
       (ARRAY['direct','destination_on_behalf_of','destination','separate_charges_and_transfers'])[1 + i % 4],
       'express', '{}'::jsonb,
       lower('shop ' || substr(md5(i::text), 1, 10) || ' seller' || i || '@example.com ref-' || i),
       (ARRAY['active','active','active','not_started','in_progress','action_required','restricted','under_review'])[1 + i % 8],
       '', 'none', '[]'::jsonb, true, true, true, true, '{}'::jsonb, now(), now()
FROM generate_series(CAST(:start AS integer), CAST(:stop AS integer)) AS i
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await fn()  # warm the plan and the cache
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(session: Any, size: int, runs: int) -> None:
    deep = await session.scalar(
        select(ConnectedAccount.id).order_by(ConnectedAccount.seq.desc()).offset(size // 2).limit(1)
    )
    shapes: dict[str, Callable[[], Awaitable[Any]]] = {
        "first page": lambda: list_accounts(session, limit=100),
        "deep page (keyset)": lambda: list_accounts(session, limit=100, starting_after=deep),
        "status=restricted": lambda: list_accounts(session, limit=100, status="restricted"),
        "charge_model=direct": lambda: list_accounts(session, limit=100, charge_model="direct"),
        "country=NL, deep": lambda: list_accounts(
            session, limit=100, country="NL", starting_after=deep
        ),
        "q=<email>": lambda: list_accounts(
            session, limit=100, q=f"seller{random.randint(1, size)}@example.com"
        ),
        "q=<name fragment>": lambda: list_accounts(session, limit=100, q="shop 0a"),
    }
    print(f"\n{size:,} accounts ({runs} runs each)")
    print(f"  {'query':24} {'p50 ms':>8} {'p99 ms':>8}")
    results = {}
    for label, fn in shapes.items():
        samples = await timed(fn, runs)
        results[label] = samples
        print(f"  {label:24} {statistics.median(samples):8.2f} {pct(samples, 0.99):8.2f}")

    async def offset_page() -> Any:
        stmt = (
            select(ConnectedAccount)
            .order_by(ConnectedAccount.seq.desc())
            .offset(size // 2)
            .limit(101)
        )
        return list(await session.scalars(stmt))

    async def email_as_substring() -> Any:
        # What `q=` an email ran before it had its own index: the trigram substring scan.
        needle = f"seller{random.randint(1, size)}@example.com"
        stmt = (
            select(ConnectedAccount)
            .where(ConnectedAccount.search_text.like(f"%{needle}%"))
            .order_by(ConnectedAccount.seq.desc())
            .limit(101)
        )
        return list(await session.scalars(stmt))

    substring = await timed(email_as_substring, max(20, runs // 4))
    email = results["q=<email>"]
    print(
        f"  {'q=<email> as substring':24} {statistics.median(substring):8.2f} "
        f"{pct(substring, 0.99):8.2f}   exact match is "
        f"{statistics.median(substring) / statistics.median(email):.0f}x faster; "
        f"target p99 <= 20 ms: {'met' if pct(email, 0.99) <= 20 else 'NOT met'}"
    )

    baseline = await timed(offset_page, max(20, runs // 10))
    ratio = statistics.median(baseline) / statistics.median(results["deep page (keyset)"])
    print(
        f"  {'deep page (OFFSET)':24} {statistics.median(baseline):8.2f} {pct(baseline, 0.99):8.2f}"
        f"   keyset is {ratio:.0f}x faster"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    engine = create_engine(url)
    sessions = create_session_maker(engine)
    try:
        await upgrade(url)
        filled = 0
        for size in sorted(args.sizes):
            async with engine.begin() as conn:
                for start in range(filled + 1, size + 1, 200_000):
                    await conn.execute(
                        text(FILL), {"start": start, "stop": min(size, start + 199_999)}
                    )
                await conn.execute(text("ANALYZE accounts"))
            filled = size
            async with sessions() as session:
                await measure(session, size, args.runs)
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
