"""`python -m platform_service.sandbox --port 12111 [--rate-limit N] ...`"""

from __future__ import annotations

import argparse

from platform_service.sandbox.server import SandboxConfig, run_standalone


def parse_webhook(spec: str) -> tuple[str, str, bool]:
    """`URL=SECRET` (platform endpoint) or `connect:URL=SECRET` (Connect endpoint)."""
    connect = spec.startswith("connect:")
    url, sep, secret = spec.removeprefix("connect:").rpartition("=")
    if not sep or not url or not secret.startswith("whsec_"):
        raise argparse.ArgumentTypeError("expected URL=whsec_... (or connect:URL=whsec_...)")
    return url, secret, connect


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="platform_service.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--rate-limit", type=float, default=None, help="global ops/s")
    parser.add_argument("--endpoint-rate-limit", type=float, default=None, help="ops/s each")
    parser.add_argument("--account-create-rate", type=float, default=None)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--webhook", type=parse_webhook, action="append", default=[])
    parser.add_argument("--demo", action="store_true", help="seed demo accounts")
    args = parser.parse_args(argv)
    run_standalone(
        SandboxConfig(
            rate_limit=args.rate_limit,
            endpoint_rate_limit=args.endpoint_rate_limit,
            account_create_rate=args.account_create_rate,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            seed_demo=args.demo,
            webhooks=args.webhook,
            host=args.host,
            port=args.port,
        )
    )


if __name__ == "__main__":
    main()
