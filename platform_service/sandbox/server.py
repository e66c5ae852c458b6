"""Run the sandbox: in a background thread (tests, the embedded default) or standalone."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from litestar import Litestar

from platform_service.sandbox.app import Runtime, create_app
from platform_service.sandbox.demo import seed_demo
from platform_service.sandbox.faults import (
    DEFAULT_ACCOUNT_CREATE_RATE,
    FILES_ENDPOINTS,
    STRIPE_CONCURRENCY,
    STRIPE_ENDPOINT_RATE,
    STRIPE_FILES_RATE,
    STRIPE_RATE,
    Faults,
    no_limits,
)
from platform_service.sandbox.state import SandboxState
from platform_service.sandbox.thin_events import EventDestination
from platform_service.sandbox.webhooks import StaticEndpoint

log = logging.getLogger(__name__)


@dataclass
class SandboxConfig:
    """How a sandbox starts. Its limits default to Stripe's test mode (faults.py)."""

    # False turns every limit below off, whatever it says: for tests that create
    # objects faster than Stripe allows because pacing is not what they test.
    limits: bool = True
    rate_limit: float | None = STRIPE_RATE  # global requests/s
    endpoint_rate_limit: float | None = STRIPE_ENDPOINT_RATE  # each endpoint's requests/s
    endpoint_limits: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(FILES_ENDPOINTS, STRIPE_FILES_RATE)
    )  # {"POST /v1/accounts/{id}": 20}: endpoints with a rate of their own
    account_create_rate: float | None = DEFAULT_ACCOUNT_CREATE_RATE  # answered with a 400
    concurrency_limit: int | None = STRIPE_CONCURRENCY  # requests in flight at once
    latency_ms: int = 0
    fail_rate: float = 0.0
    seed_demo: bool = False
    webhooks: list[tuple[str, str, bool]] = field(default_factory=list)  # (url, secret, connect)
    event_destinations: list[tuple[str, str]] = field(default_factory=list)  # (url, secret)
    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    platform_account_id: str | None = None

    def faults(self) -> Faults:
        limits: dict[str, Any] = no_limits()
        if self.limits:
            limits = {
                "rate_limit": self.rate_limit,
                "endpoint_rate_limit": self.endpoint_rate_limit,
                "endpoint_limits": dict(self.endpoint_limits),
                "account_create_rate": self.account_create_rate,
                "concurrency_limit": self.concurrency_limit,
            }
        return Faults(latency_ms=self.latency_ms, fail_rate=self.fail_rate, **limits)

    def describe_limits(self) -> str:
        if not self.limits:
            return "off"

        def per_s(value: float | None) -> str:
            return f"{value:g}/s" if value else "none"

        own = ", ".join(f"{k} {per_s(v)}" for k, v in self.endpoint_limits.items())
        return (
            f"{per_s(self.rate_limit)} global, {per_s(self.endpoint_rate_limit)} per endpoint"
            f"{f' ({own})' if own else ''}, account creation {per_s(self.account_create_rate)}, "
            f"{self.concurrency_limit or 'unlimited'} in flight"
        )


def build_app(cfg: SandboxConfig) -> Litestar:
    state = SandboxState(cfg.platform_account_id)
    if cfg.seed_demo:
        seed_demo(state)
    webhooks = [StaticEndpoint(url, secret, connect) for url, secret, connect in cfg.webhooks]
    destinations = [EventDestination(url, secret) for url, secret in cfg.event_destinations]
    return create_app(state, cfg.faults(), webhooks, destinations)


class SandboxServer:
    """A sandbox on a background thread with its own event loop."""

    def __init__(self, cfg: SandboxConfig | None = None) -> None:
        self.cfg = cfg or SandboxConfig()
        self.app = build_app(self.cfg)
        self.secret_key = "sk_test_sandbox_" + secrets.token_hex(12)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = self.cfg.port

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def state(self) -> SandboxState:
        return self.runtime.state

    @property
    def faults(self) -> Faults:
        return self.runtime.faults

    @property
    def platform_account_id(self) -> str:
        return self.state.platform_id

    @property
    def url(self) -> str:
        return f"http://{self.cfg.host}:{self.port}"

    def start(self) -> SandboxServer:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only
        # then, and without it every response waits ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.cfg.host, self.cfg.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock, ready))
            except BaseException as exc:  # surfaced to start()'s caller
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(timeout=15)
        if failure or not self._server.started:
            raise RuntimeError(f"sandbox failed to start: {failure[:1]}")
        return self

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        assert self._server is not None
        task = asyncio.create_task(self._server.serve(sockets=[sock]))
        # uvicorn exposes readiness only as a flag, so poll it.
        while not self._server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        ready.set()
        await task

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the sandbox's loop (for state it owns) and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def drain_webhooks(self, timeout: float = 10.0) -> None:
        """Block until every webhook and thin-event delivery queued so far has finished
        (or given up)."""
        self.call(self.runtime.drain(timeout), 2 * timeout + 1)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_standalone(cfg: SandboxConfig) -> None:
    """Serve in the foreground until interrupted (`platform-service sandbox`)."""
    app = build_app(cfg)
    state: SandboxState = app.state.runtime.state
    port = cfg.port or 12111
    print(
        f"Stripe sandbox (NOT real Stripe) on http://{cfg.host}:{port}\n"
        f"  platform account: {state.platform_id}\n"
        "  any sk_test_... key is accepted\n"
        f"  limits: {cfg.describe_limits()}\n"
        f"  latency {cfg.latency_ms} ms, fail rate {cfg.fail_rate}",
        flush=True,
    )
    uvicorn.run(app, host=cfg.host, port=port, log_level="warning", access_log=False)
