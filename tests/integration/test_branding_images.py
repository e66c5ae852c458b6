"""Uploads decode at most once, off the event loop, and only new content.

The app is served in the test's own process, so replacing `files.decode_branding_image`
shows whether (and where) an upload decodes.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time

import httpx
import pytest
from PIL import Image

from platform_service.branding import files
from platform_service.branding.images import decode_branding_image
from platform_service.sandbox.server import SandboxServer
from tests.integration.test_accounts import create, sandbox_requests
from tests.integration.test_branding import image, log_position, upload


def cut_png(width: int, height: int) -> bytes:
    """A PNG whose header is whole but whose pixel data stops halfway."""
    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, "PNG")
    data = buf.getvalue()
    pixels = data.index(b"IDAT") + 4
    return data[: pixels + (len(data) - pixels) // 2]


class DecodeSpy:
    """Counts decodes, notes their threads and the most that ran at once."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.threads: list[int] = []
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> None:
        with self._lock:
            self.threads.append(threading.get_ident())
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.hold)
            decode_branding_image(data)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> DecodeSpy:
    decode = DecodeSpy()
    monkeypatch.setattr(files, "decode_branding_image", decode)
    return decode


def refuse_to_decode(data: bytes) -> None:
    raise AssertionError("this upload must not be decoded")


async def test_huge_dimensions_are_refused_from_the_header_before_any_decode(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "decode_branding_image", refuse_to_decode)
    account = await create(client, admin_headers)
    since = log_position(sandbox)
    # Decoding this body would fail: the answer names its size, not its damage.
    resp = await upload(client, admin_headers, account["id"], "logo", cut_png(6000, 6000))
    assert resp.status_code == 413, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["param"]) == ("image_too_large", "file")
    assert "6000x6000 pixels" in error["message"]
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]


async def test_a_cut_non_square_icon_is_refused_as_not_square_without_decoding(
    client: httpx.AsyncClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "decode_branding_image", refuse_to_decode)
    account = await create(client, admin_headers)
    resp = await upload(client, admin_headers, account["id"], "icon", cut_png(400, 200))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "image_not_square"


async def test_a_corrupt_image_is_still_refused_as_not_an_image(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox: SandboxServer
) -> None:
    account = await create(client, admin_headers)
    whole = io.BytesIO()
    Image.effect_noise((300, 300), 64).convert("RGB").save(whole, "PNG")
    since = log_position(sandbox)
    data = whole.getvalue()
    resp = await upload(client, admin_headers, account["id"], "logo", data[: len(data) // 2])
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["param"]) == ("image_not_an_image", "file")
    assert "could not be decoded" in error["message"]
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]


async def test_a_repeated_upload_is_answered_by_its_hash_without_decoding(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    spy: DecodeSpy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await create(client, admin_headers)
    second = await create(client, admin_headers)
    data = image()
    one = await upload(client, admin_headers, first["id"], "icon", data)
    assert one.status_code == 201, one.text
    assert len(spy.threads) == 1
    monkeypatch.setattr(files, "decode_branding_image", refuse_to_decode)
    again = await upload(client, admin_headers, first["id"], "icon", data)
    other = await upload(client, admin_headers, second["id"], "icon", data, filename="b.png")
    assert again.status_code == other.status_code == 201, (again.text, other.text)
    assert again.json()["file"] == other.json()["file"] == one.json()["file"]
    assert other.json()["branding"]["branding"]["icon"] == one.json()["file"]["id"]


async def test_the_decode_runs_off_the_event_loop_thread(
    client: httpx.AsyncClient, admin_headers: dict[str, str], spy: DecodeSpy
) -> None:
    account = await create(client, admin_headers)
    resp = await upload(client, admin_headers, account["id"], "logo", image())
    assert resp.status_code == 201, resp.text
    assert spy.threads and threading.get_ident() not in spy.threads


async def test_parallel_uploads_decode_at_most_two_at_a_time(
    client: httpx.AsyncClient, admin_headers: dict[str, str], spy: DecodeSpy
) -> None:
    spy.hold = 0.2
    accounts = [await create(client, admin_headers) for _ in range(6)]
    answers = await asyncio.gather(
        *(upload(client, admin_headers, a["id"], "logo", image()) for a in accounts)
    )
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert len(spy.threads) == 6
    assert spy.most == files.DECODE_LIMITER.total_tokens == 2
