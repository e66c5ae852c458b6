"""`python -m platform_service.sandbox --port 12111 [--no-limits] [--rate-limit N] ...`"""

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


def parse_event_destination(spec: str) -> tuple[str, str]:
    """`URL=SECRET`: an event destination for thin (v2) event notifications."""
    url, sep, secret = spec.rpartition("=")
    if not sep or not url or not secret.startswith("whsec_"):
        raise argparse.ArgumentTypeError("expected URL=whsec_...")
    return url, secret


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="platform_service.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    defaults = SandboxConfig()
    parser.add_argument(
        "--no-limits", action="store_true", help="no rate or concurrency limit (Stripe has them)"
    )
    parser.add_argument("--rate-limit", type=float, default=defaults.rate_limit, help="global /s")
    parser.add_argument(
        "--endpoint-rate-limit", type=float, default=defaults.endpoint_rate_limit, help="/s each"
    )
    parser.add_argument("--account-create-rate", type=float, default=defaults.account_create_rate)
    parser.add_argument(
        "--concurrency-limit", type=int, default=defaults.concurrency_limit, help="in flight"
    )
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--webhook", type=parse_webhook, action="append", default=[])
    parser.add_argument(
        "--event-destination", type=parse_event_destination, action="append", default=[]
    )
    parser.add_argument("--demo", action="store_true", help="seed demo accounts")
    args = parser.parse_args(argv)
    run_standalone(
        SandboxConfig(
            limits=not args.no_limits,
            rate_limit=args.rate_limit,
            endpoint_rate_limit=args.endpoint_rate_limit,
            account_create_rate=args.account_create_rate,
            concurrency_limit=args.concurrency_limit,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            seed_demo=args.demo,
            webhooks=args.webhook,
            event_destinations=args.event_destination,
            host=args.host,
            port=args.port,
        )
    )


if __name__ == "__main__":
    main()
