"""Webhook ingest throughput: signed deliveries through HTTP into PostgreSQL, 10% duplicates.

Starts `platform-service serve` in its own process (PostgreSQL, the job queue on
Redis, a fresh database), then posts pre-signed `account.updated` events from
concurrent clients and prints events/s and ack latency percentiles. Each accepted
event is verified, inserted under its unique id and enqueued after commit; the
jobs are left unprocessed (no worker), so the figure is the ingest path alone.
The ack goes out before the enqueue finishes, so the run also waits for every
job to reach the queue and prints that rate too: acks outrunning the enqueues
would only be a growing backlog.

    .venv/bin/python bench/webhooks.py [--events 5000] [--concurrency 32] [--duplicates 0.1]

Needs PostgreSQL (BENCH_PG_ADMIN_DSN, default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import stripe
from redis.asyncio import Redis

from platform_service.db.migrate import upgrade
from platform_service.settings import ENV_VARS

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "whsec_bench_" + secrets.token_hex(8)
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_payloads(events: int, duplicate_share: float) -> list[bytes]:
    unique = events - int(events * duplicate_share)
    now = int(time.time())
    bodies = []
    for i in range(unique):
        account = f"acct_bench{i % 500:05d}"
        event = {
            "id": f"evt_bench_{secrets.token_hex(12)}",
            "object": "event",
            "type": "account.updated",
            "account": account,
            "api_version": "2026-10-28.endive",
            "created": now,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {
                "object": {
                    "id": account,
                    "object": "account",
                    "charges_enabled": True,
                    "business_profile": {"name": f"Seller {i}"},
                    "settings": {"branding": {"primary_color": "#0A2540"}},
                },
                "previous_attributes": {"charges_enabled": False},
            },
        }
        bodies.append(json.dumps(event).encode())
    # Duplicates are redeliveries of random earlier events, mixed in at random places.
    rng = random.Random(7)
    out = list(bodies)
    for _ in range(events - unique):
        out.insert(rng.randrange(len(out) + 1), rng.choice(bodies))
    return out


async def run(args: argparse.Namespace) -> None:
    db_name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    database_url = f"{base}/{db_name}".replace("postgresql://", "postgresql+asyncpg://")
    queue_name = f"ps_bench_{secrets.token_hex(4)}"
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(database_url)
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            # Ingest never calls Stripe; this base only keeps the embedded sandbox off.
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_API_BASE="http://127.0.0.1:9",
            STRIPE_CONNECT_WEBHOOK_SECRETS=SECRET,
            PLATFORM_PORT=str(port),
            PLATFORM_JOB_QUEUE_NAME=queue_name,
            PLATFORM_LOG_LEVEL="warning",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "platform_service.cli", "serve", "--no-admin-key"],
            env=env,
            cwd=ROOT,
            stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "wb"),  # noqa: SIM115
        )
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for _ in range(200):
                try:
                    if (await http.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        payloads = make_payloads(args.events, args.duplicates)
        await _blast(port, make_payloads(200, 0), args.concurrency)  # warm-up
        unique = args.events - int(args.events * args.duplicates)
        redis = Redis.from_url(REDIS_URL)
        await _wait_for_queue(redis, queue_name, 200, timeout=60)
        # The server's own CPU time per delivery: steadier than wall time on a shared machine.
        process = psutil.Process(server.pid)
        cpu_before = process.cpu_times()
        # Signed just before sending (inside _blast): Stripe's tolerance is 5 minutes.
        latencies, wall, statuses = await _blast(port, payloads, args.concurrency)
        acked = time.perf_counter()
        queued = await _wait_for_queue(redis, queue_name, unique + 200, timeout=60)
        all_queued = wall + time.perf_counter() - acked
        cpu_after = process.cpu_times()
        cpu_s = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        await redis.delete(queue_name)
        await redis.aclose()
        conn = await asyncpg.connect(f"{base}/{db_name}")
        stored = await conn.fetchval(
            "SELECT count(*) FROM webhook_events WHERE stripe_event_id LIKE 'evt_bench_%'"
        )
        await conn.close()
        latencies.sort()
        print(
            f"deliveries:        {args.events} ({unique} unique, {args.events - unique} duplicates)"
        )
        print(f"concurrency:       {args.concurrency} connections, server: 1 uvicorn process")
        print(f"statuses:          {dict(sorted(statuses.items()))}")
        print(
            f"stored / queued:   {stored - 200} new rows / {queued - 200} jobs (expected {unique})"
        )
        rate = args.events / wall
        print(f"throughput:        {rate:,.0f} events/s ({wall:.2f} s)")
        print(f"target >= 1,000 events/s: {'met' if rate >= 1000 else 'NOT met'}")
        print(f"until all queued:  {args.events / all_queued:,.0f} events/s ({all_queued:.2f} s)")
        print(f"server CPU:        {cpu_s / args.events * 1e6:,.0f} µs per delivery")
        print(
            "ack latency (ms):  "
            f"p50 {statistics.median(latencies) * 1000:.1f}  "
            f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f}  "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f}  "
            f"max {latencies[-1] * 1000:.1f}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()


async def _wait_for_queue(redis: Redis, queue_name: str, expected: int, timeout: float) -> int:
    """The queue's length once it holds `expected` jobs, or stops growing for a second."""
    deadline = time.perf_counter() + timeout
    last, still_since = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        queued = int(await redis.zcard(queue_name))
        if queued >= expected:
            return queued
        if queued != last:
            last, still_since = queued, time.perf_counter()
        elif time.perf_counter() - still_since > 1.0:
            return queued
        await asyncio.sleep(0.01)
    return last


class _Connection:
    """A bare keep-alive HTTP/1.1 connection: httpx's own overhead at 32 concurrent
    connections cost more CPU than the server under test, on the same machine."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, signature: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nStripe-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _blast(
    port: int, payloads: list[bytes], concurrency: int
) -> tuple[list[float], float, dict[int, int]]:
    ts = int(time.time())
    signed = [
        (body, stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, ts))
        for body in payloads
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    work = iter(signed)

    async def client() -> None:
        connection = _Connection("127.0.0.1", port)
        try:
            for body, header in work:
                started = time.perf_counter()
                status = await connection.post("/v1/webhooks/stripe/connect", body, header)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duplicates", type=float, default=0.1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
