"""Event-loop health under big-image uploads: /health/live latency with and without them.

Starts the local Stripe sandbox (with its defaults, Stripe's test-mode limits:
Files 20/s, 25/s otherwise, 20 in flight) and `platform-service serve` in processes of their
own (PostgreSQL, the job queue on Redis, a fresh database), creates one account
per upload client, then measures /health/live from a polling client:

1. baseline: nothing else running;
2. new: C clients upload 5000x5000 PNGs (25 MP, flat colour, ~110 KB), every one
   new content (a tEXt chunk carries a counter), so every upload is decoded;
3. repeat: the same clients upload one PNG over and over (stored at warm-up),
   which the service answers by its hash.

It prints /health/live p50/p99/max per phase and the ratio to the baseline, with
the uploads' own latency and rate.

    .venv/bin/python bench/uploads.py [--clients 4] [--uploads 8] [--baseline-s 5]

Needs PostgreSQL (BENCH_PG_ADMIN_DSN, default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/0). `--server-root` serves
another checkout of the service (its own `platform_service`) to compare two versions.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import asyncpg
import httpx
from PIL import Image
from redis.asyncio import Redis

from platform_service.db.migrate import upgrade
from platform_service.settings import ENV_VARS

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent
SIDE = 5000
SANDBOX_KEY = "sk_test_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flat_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE), (10, 37, 64)).save(buf, "PNG")
    return buf.getvalue()


def with_text(png: bytes, text: str) -> bytes:
    """`png` with a tEXt chunk after IHDR: new bytes (and hash), the same pixels, no re-encode."""
    payload = b"bench\0" + text.encode()
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    after_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:after_ihdr] + chunk + png[after_ihdr:]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


class Poller:
    """GETs /health/live back to back from a thread of its own, so the benchmark's
    event loop (busy with the uploads) cannot add to what it measures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                resp = http.get("/health/live")
                elapsed = time.perf_counter() - started
                resp.raise_for_status()
                self.latencies.append(elapsed)
                time.sleep(0.005)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "platform_service.cli", "sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/_sandbox/faults", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the sandbox did not start")


async def run(args: argparse.Namespace) -> None:
    db_name = f"ps_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    database_url = f"{base}/{db_name}".replace("postgresql://", "postgresql+asyncpg://")
    queue_name = f"ps_bench_{secrets.token_hex(4)}"
    port = free_port()
    sandbox, sandbox_url = start_sandbox()
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(database_url)
        env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=REDIS_URL,
            STRIPE_SECRET_KEY=SANDBOX_KEY,
            STRIPE_API_BASE=sandbox_url,
            PLATFORM_PORT=str(port),
            PLATFORM_JOB_QUEUE_NAME=queue_name,
            PLATFORM_LOG_LEVEL="warning",
        )
        server_root = Path(args.server_root).resolve()
        key = subprocess.run(
            [sys.executable, "-m", "platform_service.cli", "keys", "create", "--role", "admin"],
            env=env,
            cwd=server_root,
            check=True,
            capture_output=True,
        ).stdout.decode()
        headers = {"Authorization": f"Bearer {key.strip()}"}
        server = subprocess.Popen(
            [sys.executable, "-m", "platform_service.cli", "serve", "--no-admin-key"],
            env=env,
            cwd=server_root,
            stderr=open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "wb"),  # noqa: SIM115
        )
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as http:
            for _ in range(200):
                try:
                    if (await http.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            accounts = [await _create_account(http, i) for i in range(args.clients)]
            png = flat_png()
            # Warm-up: loads Pillow's plugins, fills the pool, and stores `png`, so
            # the repeat phase measures repeats only.
            await _upload(http, accounts[0], png)

            with Poller(url) as baseline:
                await asyncio.sleep(args.baseline_s)
            total = args.clients * args.uploads
            fresh = [with_text(png, f"upload {i}") for i in range(total)]
            with Poller(url) as during_new:
                new = await _uploads(http, accounts, fresh)
            with Poller(url) as during_repeat:
                repeat = await _uploads(http, accounts, [png] * total)

        print(
            f"image:            {SIDE}x{SIDE} PNG, flat colour, {len(png) / 1024:.0f} KB "
            f"({args.clients} clients x {args.uploads} uploads per phase)"
        )
        print(f"server:           1 uvicorn process, code from {server_root}")
        base_p50 = statistics.median(baseline.latencies)
        base_p99 = percentile(baseline.latencies, 0.99)
        print("/health/live (ms)       n     p50     p99     max   p50 x   p99 x")
        for name, lat in (
            ("baseline", baseline.latencies),
            ("new uploads", during_new.latencies),
            ("repeat uploads", during_repeat.latencies),
        ):
            p50, p99 = statistics.median(lat), percentile(lat, 0.99)
            print(
                f"  {name:<16} {len(lat):>6} {p50 * 1000:>7.1f} {p99 * 1000:>7.1f} "
                f"{max(lat) * 1000:>7.1f} {p50 / base_p50:>7.1f} {p99 / base_p99:>7.1f}"
            )
        for name, (statuses, lat, wall) in (("new", new), ("repeat", repeat)):
            print(
                f"uploads, {name:<7} statuses {dict(sorted(statuses.items()))}, "
                f"{len(lat) / wall:.1f}/s, latency p50 {statistics.median(lat) * 1000:.0f} ms "
                f"p99 {percentile(lat, 0.99) * 1000:.0f} ms"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        sandbox.terminate()
        sandbox.wait(timeout=20)
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(queue_name)
        await redis.aclose()
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await admin.close()


async def _create_account(http: httpx.AsyncClient, i: int) -> str:
    ref = f"bench-{secrets.token_hex(4)}"
    body = {
        "external_ref": ref,
        "email": f"{ref}@example.com",
        "country": "FR",
        "business_name": f"Bench shop {i}",
        "charge_model": "direct",
    }
    resp = await http.post("/v1/accounts", json=body)
    resp.raise_for_status()
    return str(resp.json()["id"])


async def _upload(http: httpx.AsyncClient, account_id: str, data: bytes) -> int:
    resp = await http.post(
        f"/v1/accounts/{account_id}/branding/logo",
        files={"file": ("logo.png", data, "image/png")},
    )
    return resp.status_code


async def _uploads(
    http: httpx.AsyncClient, accounts: list[str], images: list[bytes]
) -> tuple[dict[int, int], list[float], float]:
    """Every image uploaded once, one client per account, each client one at a time."""
    work = iter(images)
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def client(account_id: str) -> None:
        for data in work:
            started = time.perf_counter()
            status = await _upload(http, account_id, data)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(a) for a in accounts))
    return statuses, latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent upload clients")
    parser.add_argument("--uploads", type=int, default=8, help="uploads per client per phase")
    parser.add_argument("--baseline-s", type=float, default=5.0)
    parser.add_argument("--server-root", default=str(ROOT), help="checkout the server runs from")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
