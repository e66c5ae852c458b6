"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def png(width: int = 256, height: int = 256, color: str = "#635bff") -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    buf.seek(0)
    buf.name = "image.png"
    return buf


@dataclass
class Received:
    path: str
    body: bytes
    signature: str | None


@dataclass
class Receiver:
    """A webhook endpoint that records what it got and can fail the first N deliveries."""

    url: str
    received: list[Received] = field(default_factory=list)
    fail_first: int = 0


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(url="", fail_first=fail_first)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                failing = receiver.fail_first > 0
                receiver.fail_first -= 1
                if not failing:
                    receiver.received.append(
                        Received(self.path, body, self.headers.get("Stripe-Signature"))
                    )
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
