"""Branding through the HTTP API, against the local Stripe sandbox."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
import stripe
from PIL import Image

from platform_service.branding import service
from platform_service.branding.applier import BrandingApplier
from platform_service.branding.events import on_account_updated_branding
from platform_service.branding.files import upload_branding_file
from platform_service.branding.models import PlatformStripeBranding
from platform_service.bulk.appliers import BulkApplier
from platform_service.errors import ValidationFailed
from platform_service.runtime import Runtime
from platform_service.sandbox.server import SandboxServer
from platform_service.stripe.idempotency import idempotency_key
from tests.fixtures.app import KeyMaker, seller_headers
from tests.integration.test_accounts import create, sandbox_requests


def image(
    width: int = 256, height: int = 256, fmt: str = "PNG", color: tuple[int, int, int] | None = None
) -> bytes:
    """A fresh image; random colour unless given, so each call is new content."""
    fill = color or tuple(os.urandom(3))
    buf = io.BytesIO()
    Image.new("RGB", (width, height), fill).save(buf, format=fmt)
    return buf.getvalue()


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    account_id: str,
    purpose: str,
    data: bytes,
    filename: str = "brand.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await client.post(
        f"/v1/accounts/{account_id}/branding/{purpose}",
        files={"file": (filename, data, content_type)},
        headers=headers,
    )


async def uploaded(
    client: httpx.AsyncClient, headers: dict[str, str], account_id: str, purpose: str
) -> str:
    resp = await upload(client, headers, account_id, purpose, image())
    assert resp.status_code == 201, resp.text
    return str(resp.json()["file"]["id"])


def branding_writes(sandbox: SandboxServer, account_id: str, since: int) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox_requests(sandbox, since)
        if r["method"] == "POST" and r["path"] == f"/v1/accounts/{account_id}"
    ]


def log_position(sandbox: SandboxServer) -> int:
    return len(sandbox_requests(sandbox))


@pytest.fixture
async def platform_defaults(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> dict[str, Any]:
    body = {
        "display_name": "The Platform",
        "button_color": "#112233",
        "background_color": "#FAFAFA",
        "font_family": "inter",
        "border_style": "pill",
    }
    resp = await client.put("/v1/platform/branding", json=body, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    return body


# -- platform defaults ----------------------------------------------------------


async def test_platform_branding_is_admin_only_and_round_trips(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyMaker
) -> None:
    body = {"display_name": "Platform Co", "button_color": "#0a2540", "border_style": "rounded"}
    resp = await client.put("/v1/platform/branding", json=body, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    got = (await client.get("/v1/platform/branding", headers=admin_headers)).json()
    assert got["branding"] == {
        "display_name": "Platform Co",
        "button_color": "#0A2540",
        "border_style": "rounded",
    }
    account = await create(client, admin_headers)
    seller = await seller_headers(make_key, account["id"])
    denied = await client.get("/v1/platform/branding", headers=seller)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "admin_required"


# -- resolution -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("charge_model", "source", "call_key"),
    [
        ("direct", "connected_account", "stripe_account"),
        ("destination_on_behalf_of", "connected_account", "on_behalf_of"),
        ("destination", "platform", None),
        ("separate_charges_and_transfers", "platform", None),
    ],
)
async def test_effective_branding_follows_the_charge_model(
    runtime: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    platform_defaults: dict[str, Any],
    charge_model: str,
    source: str,
    call_key: str | None,
) -> None:
    account = await create(client, admin_headers, charge_model=charge_model)
    acct = account["id"]
    resp = await client.patch(
        f"/v1/accounts/{acct}/branding",
        json={"button_color": "#aa0000", "display_name": "Seller Shop"},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text

    eff = await client.get(f"/v1/accounts/{acct}/branding/effective", headers=admin_headers)
    assert eff.status_code == 200, eff.text
    body = eff.json()
    assert body["charge_model"] == charge_model
    resolution = body["resolution"]
    assert resolution["source"] == source
    assert resolution["call"] == ({call_key: acct} if call_key else {})
    values = resolution["branding"]
    if source == "connected_account":
        assert values["button_color"] == "#AA0000"
        assert values["display_name"] == "Seller Shop"
        # Unset on the account: taken from the platform, field by field.
        assert values["background_color"] == platform_defaults["background_color"]
        assert values["font_family"] == platform_defaults["font_family"]
        assert set(resolution["inherited"]) >= {"background_color", "font_family", "border_style"}
        assert "button_color" not in resolution["inherited"]
    else:
        # Not read from Stripe yet: the defaults stand in, and the response says so.
        async with runtime.session() as session, session.begin():
            await session.execute(sa.delete(PlatformStripeBranding))
        eff = await client.get(f"/v1/accounts/{acct}/branding/effective", headers=admin_headers)
        resolution = eff.json()["resolution"]
        values = resolution["branding"]
        assert values["button_color"] == platform_defaults["button_color"]
        assert values["display_name"] == platform_defaults["display_name"]
        assert resolution["inherited"] == []
        assert any("not shown" in w for w in resolution["warnings"])
        assert any("not been read from Stripe" in w for w in resolution["warnings"])
        # Once read, the portal's truth: the platform account's own Stripe branding.
        read = await client.post("/v1/platform/branding/refresh", headers=admin_headers)
        assert read.status_code == 200, read.text
        stripe = read.json()["stripe"]
        assert stripe["branding"]["display_name"] != platform_defaults["display_name"]
        eff = await client.get(f"/v1/accounts/{acct}/branding/effective", headers=admin_headers)
        resolution = eff.json()["resolution"]
        assert resolution["branding"] == stripe["branding"]
        assert not any("not been read from Stripe" in w for w in resolution["warnings"])
    applies = body["applies"]
    assert applies["button_color"]["applies"] == "stripe_api"
    assert applies["button_color"]["stripe_field"] == "Account settings.branding.primary_color"
    assert applies["font_family"]["applies"] == "stripe_dashboard"
    assert ("shows the platform's branding" in (applies["icon"].get("note") or "")) == (
        source == "platform"
    )
    checklist = {item["setting"]: item for item in body["dashboard_checklist"]}
    assert checklist["font_family"]["value"] == "Inter"
    assert checklist["border_style"]["value"] == "pill"
    assert "emails" in checklist


async def test_account_without_own_display_name_shows_its_stripe_business_name(
    client: httpx.AsyncClient, admin_headers: dict[str, str], platform_defaults: dict[str, Any]
) -> None:
    account = await create(client, admin_headers)
    eff = await client.get(
        f"/v1/accounts/{account['id']}/branding/effective", headers=admin_headers
    )
    resolution = eff.json()["resolution"]
    assert resolution["branding"]["display_name"] == account["business_name"]
    assert "display_name" not in resolution["inherited"]


# -- uploads --------------------------------------------------------------------


async def test_png_logo_is_uploaded_on_the_platform_and_set_on_the_account(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    since = log_position(sandbox)
    resp = await upload(client, admin_headers, acct, "logo", image(400, 200))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    file_id = body["file"]["id"]
    assert body["file"]["purpose"] == "logo"
    assert (body["file"]["format"], body["file"]["width"], body["file"]["height"]) == (
        "PNG",
        400,
        200,
    )
    assert body["branding"]["branding"]["logo"] == file_id

    files = [r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]
    assert len(files) == 1
    assert files[0]["stripe_account"] is None  # on the platform, never on the account
    assert files[0]["params"]["purpose"] == "business_logo"
    on_stripe = sandbox_client.v1.accounts.retrieve(acct).to_dict(recursive=True)
    assert on_stripe["settings"]["branding"]["logo"] == file_id


async def test_jpeg_icon_is_accepted(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox_client: stripe.StripeClient
) -> None:
    account = await create(client, admin_headers)
    resp = await upload(
        client, admin_headers, account["id"], "icon", image(fmt="JPEG"), "i.jpg", "image/jpeg"
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["file"]["format"] == "JPEG"
    on_stripe = sandbox_client.v1.accounts.retrieve(account["id"]).to_dict(recursive=True)
    assert on_stripe["settings"]["branding"]["icon"] == resp.json()["file"]["id"]


async def test_same_image_is_uploaded_to_stripe_once(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    runtime: Runtime,
) -> None:
    first = await create(client, admin_headers)
    second = await create(client, admin_headers)
    data = image()
    since = log_position(sandbox)
    one = await upload(client, admin_headers, first["id"], "icon", data)
    two = await upload(client, admin_headers, second["id"], "icon", data, filename="other.png")
    assert one.status_code == two.status_code == 201
    assert one.json()["file"]["id"] == two.json()["file"]["id"]
    async with runtime.session() as session, session.begin():
        again = await upload_branding_file(
            session,
            runtime.gateway,
            max_upload_bytes=runtime.settings.max_upload_bytes,
            purpose="icon",
            data=data,
            filename="bulk.png",
        )
    assert again == one.json()["file"]["id"]
    uploads = [r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]
    assert len(uploads) == 1
    digest = hashlib.sha256(data).hexdigest()
    assert uploads[0]["idempotency_key"] == idempotency_key("branding.file", "icon", digest)


@pytest.mark.parametrize(
    ("purpose", "data", "code", "status"),
    [
        ("logo", b"this is not an image at all", "image_not_an_image", 422),
        ("logo", image(64, 64), "image_too_small", 422),
        ("icon", image(300, 200), "image_not_square", 422),
        ("logo", image(130, 130, fmt="GIF"), "image_unsupported_format", 422),
    ],
)
async def test_bad_images_are_refused_naming_the_rule(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    purpose: str,
    data: bytes,
    code: str,
    status: int,
) -> None:
    account = await create(client, admin_headers)
    since = log_position(sandbox)
    resp = await upload(client, admin_headers, account["id"], purpose, data)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert error["param"] == "file"
    assert not [r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]


async def test_oversized_body_is_413_in_the_error_shape(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    big = os.urandom(700 * 1024)
    resp = await upload(client, admin_headers, account["id"], "logo", big)
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "payload_too_large"


async def test_image_just_over_512_kb_is_413_too_large(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    padded = image() + b"\0" * (512 * 1024)
    padded = padded[: 512 * 1024 + 10]
    resp = await upload(client, admin_headers, account["id"], "logo", padded)
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] in ("image_too_large", "payload_too_large")


async def test_upload_without_a_file_part_is_an_error(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    resp = await client.post(
        f"/v1/accounts/{account['id']}/branding/logo",
        files={"other": ("x.png", image(), "image/png")},
        headers=admin_headers,
    )
    assert resp.status_code in (400, 422), resp.text
    assert "error" in resp.json()


# -- writing to Stripe ------------------------------------------------------------


async def test_put_writes_settings_branding_with_a_deterministic_key(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    icon = await uploaded(client, admin_headers, acct, "icon")
    logo = await uploaded(client, admin_headers, acct, "logo")
    since = log_position(sandbox)
    body = {
        "display_name": "Renamed Shop",
        "icon": icon,
        "logo": logo,
        "button_color": "#0a2540",
        "background_color": "#ffffff",
        "font_family": "lora",
        "border_style": "rectangular",
    }
    resp = await client.put(f"/v1/accounts/{acct}/branding", json=body, headers=admin_headers)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["branding"]["button_color"] == "#0A2540"
    assert out["branding"]["font_family"] == "lora"

    writes = branding_writes(sandbox, acct, since)
    assert len(writes) == 1
    params = writes[0]["params"]
    assert params["settings"]["branding"] == {
        "icon": icon,
        "logo": logo,
        "primary_color": "#0A2540",
        "secondary_color": "#FFFFFF",
    }
    assert params["business_profile"] == {"name": "Renamed Shop"}
    # font and border style are not Accounts API fields: stored locally only.
    assert "font_family" not in str(params)

    version = out["version"]
    digest = hashlib.sha256(msgspec.json.encode(params, order="sorted")).hexdigest()[:16]
    expected_key = idempotency_key("branding.account", acct, f"v{version}", digest)
    assert writes[0]["idempotency_key"] == expected_key
    assert out["last_write"]["idempotency_key"] == expected_key
    assert out["last_write"]["version"] == version

    on_stripe = sandbox_client.v1.accounts.retrieve(acct).to_dict(recursive=True)
    assert on_stripe["settings"]["branding"]["primary_color"] == "#0A2540"
    assert on_stripe["settings"]["branding"]["icon"] == icon
    assert on_stripe["business_profile"]["name"] == "Renamed Shop"
    got = await client.get(f"/v1/accounts/{acct}", headers=admin_headers)
    assert got.json()["business_name"] == "Renamed Shop"

    # The same document again changes nothing and sends nothing.
    since = log_position(sandbox)
    again = await client.put(f"/v1/accounts/{acct}/branding", json=body, headers=admin_headers)
    assert again.status_code == 200
    assert again.json()["version"] == version
    assert branding_writes(sandbox, acct, since) == []


async def test_inherited_platform_colours_are_written_to_the_account(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    platform_defaults: dict[str, Any],
    sandbox_client: stripe.StripeClient,
) -> None:
    account = await create(client, admin_headers)
    resp = await client.patch(
        f"/v1/accounts/{account['id']}/branding",
        json={"button_color": "#ff0000"},
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    branding = sandbox_client.v1.accounts.retrieve(account["id"]).to_dict(recursive=True)[
        "settings"
    ]["branding"]
    assert branding["primary_color"] == "#FF0000"
    assert branding["secondary_color"] == platform_defaults["background_color"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"button_color": "red"}, "button_color"),
        ({"background_color": "#abc"}, "background_color"),
        ({"icon": "file_doesnotexist"}, "icon"),
        ({"logo": "not-a-file"}, "logo"),
        ({"font_family": "x; background: url(evil)"}, "font_family"),
        ({"border_style": "wavy"}, "border_style"),
        ({"colour": "#000000"}, "colour"),
    ],
)
async def test_invalid_branding_is_422_with_param(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox: SandboxServer,
    body: dict[str, Any],
    param: str,
) -> None:
    account = await create(client, admin_headers)
    since = log_position(sandbox)
    resp = await client.patch(
        f"/v1/accounts/{account['id']}/branding", json=body, headers=admin_headers
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["param"] == param
    assert branding_writes(sandbox, account["id"], since) == []


async def test_icon_field_refuses_a_file_uploaded_as_a_logo(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    logo = await uploaded(client, admin_headers, account["id"], "logo")
    resp = await client.patch(
        f"/v1/accounts/{account['id']}/branding", json={"icon": logo}, headers=admin_headers
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "branding_file_purpose_mismatch"


async def test_stripe_failure_stores_nothing(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox_admin: httpx.Client,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    ok = await client.patch(
        f"/v1/accounts/{acct}/branding", json={"button_color": "#000000"}, headers=admin_headers
    )
    before = ok.json()
    sandbox_admin.post(
        "/_sandbox/faults",
        json={
            "next": [{"kind": "500", "count": 10, "method": "POST", "path": f"/v1/accounts/{acct}"}]
        },
    )
    resp = await client.patch(
        f"/v1/accounts/{acct}/branding",
        json={"button_color": "#FFFFFF", "font_family": "lato"},
        headers=admin_headers,
    )
    assert resp.status_code == 502, resp.text
    assert resp.json()["error"]["type"] == "upstream_error"
    sandbox_admin.post("/_sandbox/faults", json={"clear_next": True})
    after = (await client.get(f"/v1/accounts/{acct}/branding", headers=admin_headers)).json()
    assert after["branding"] == before["branding"]
    assert after["version"] == before["version"]


async def test_unsetting_a_colour_stripe_holds_without_a_default_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.put("/v1/platform/branding", json={}, headers=admin_headers)
    account = await create(client, admin_headers)
    acct = account["id"]
    await client.patch(
        f"/v1/accounts/{acct}/branding", json={"button_color": "#000000"}, headers=admin_headers
    )
    resp = await client.patch(
        f"/v1/accounts/{acct}/branding", json={"button_color": None}, headers=admin_headers
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "branding_field_not_clearable"
    assert resp.json()["error"]["param"] == "button_color"


# -- the bulk-job entry point -------------------------------------------------------


async def test_apply_branding_patch_dry_run_then_apply_with_the_given_key(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    runtime: Runtime,
    sandbox: SandboxServer,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    patch = {"button_color": "#123456", "border_style": "pill"}
    since = log_position(sandbox)
    async with runtime.session() as session, session.begin():
        dry = await service.apply_branding_patch(
            session,
            runtime.gateway,
            acct,
            patch,
            idempotency_key=f"bulk:job1:{acct}",
            actor="t",
            dry_run=True,
        )
    assert dry.changed and dry.stripe_write
    assert dry.diff["button_color"] == {"before": None, "after": "#123456"}
    assert branding_writes(sandbox, acct, since) == []

    key = f"bulk:job1:{acct}"
    async with runtime.session() as session, session.begin():
        done = await service.apply_branding_patch(
            session, runtime.gateway, acct, patch, idempotency_key=key, actor="t"
        )
    assert done.changed and done.idempotency_key == key
    writes = branding_writes(sandbox, acct, since)
    assert [w["idempotency_key"] for w in writes] == [key]

    async with runtime.session() as session, session.begin():
        same = await service.apply_branding_patch(
            session, runtime.gateway, acct, patch, idempotency_key=key, actor="t"
        )
    assert same.changed is False and same.diff == {}

    # A worker killed after Stripe answered but before its commit: the retry sends
    # the same key and body, Stripe replays, and the change applies once.
    retry_key = f"bulk:job2:{acct}"
    second = {"button_color": "#654321"}
    since = log_position(sandbox)
    async with runtime.session() as session:
        await session.begin()
        await service.apply_branding_patch(
            session, runtime.gateway, acct, second, idempotency_key=retry_key, actor="t"
        )
        await session.rollback()
    async with runtime.session() as session, session.begin():
        again = await service.apply_branding_patch(
            session, runtime.gateway, acct, second, idempotency_key=retry_key, actor="t"
        )
    assert again.changed and again.stripe_write
    writes = branding_writes(sandbox, acct, since)
    assert [(w["idempotency_key"], w["replayed"]) for w in writes] == [
        (retry_key, False),
        (retry_key, True),
    ]
    applied = httpx.get(f"{sandbox.url}/_sandbox/idempotency").json()
    assert applied[retry_key] == 1

    with pytest.raises(ValidationFailed) as info:
        async with runtime.session() as session, session.begin():
            await service.apply_branding_patch(
                session,
                runtime.gateway,
                acct,
                {"button_color": "blue"},
                idempotency_key=key,
                actor="t",
            )
    assert info.value.param == "button_color"


async def test_bulk_applier_uploads_once_and_names_params_in_the_job_request(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    runtime: Runtime,
    sandbox: SandboxServer,
) -> None:
    applier: BulkApplier = BrandingApplier()
    assert applier.kind == "branding"
    acct = (await create(client, admin_headers))["id"]
    data = image()
    since = log_position(sandbox)
    async with runtime.session() as session, session.begin():
        patch = await applier.prepare(
            session, runtime.gateway, runtime.settings, {"button_color": "#101010"}, {"icon": data}
        )
        again = await applier.prepare(
            session, runtime.gateway, runtime.settings, {}, {"icon": data}
        )
    assert patch == {"button_color": "#101010", "icon": again["icon"]}
    assert len([r for r in sandbox_requests(sandbox, since) if r["path"] == "/v1/files"]) == 1
    applier.validate(patch)
    with pytest.raises(ValidationFailed) as invalid:
        applier.validate({"button_color": "red"})
    assert invalid.value.param == "button_color"
    with pytest.raises(ValidationFailed) as bad_image:
        async with runtime.session() as session, session.begin():
            await applier.prepare(session, runtime.gateway, runtime.settings, {}, {"logo": b"no"})
    assert bad_image.value.param == "files.logo"

    key = f"bulk:applier:{acct}"
    async with runtime.session() as session, session.begin():
        result = await applier.apply(
            session, runtime.gateway, acct, patch, idempotency_key=key, actor="t", dry_run=False
        )
    assert result.changed and result.diff["icon"] == {"before": None, "after": patch["icon"]}
    assert [w["idempotency_key"] for w in branding_writes(sandbox, acct, since)] == [key]
    with pytest.raises(ValidationFailed) as on_apply:
        async with runtime.session() as session, session.begin():
            await applier.apply(
                session,
                runtime.gateway,
                acct,
                {"logo": "file_unknown"},
                idempotency_key=f"{key}:2",
                actor="t",
                dry_run=False,
            )
    assert on_apply.value.param == "logo"


# -- drift ----------------------------------------------------------------------------


async def test_drift_after_an_outside_change_is_detected_and_cleared_by_a_write(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    sandbox_client: stripe.StripeClient,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    await client.patch(
        f"/v1/accounts/{acct}/branding",
        json={"button_color": "#0A2540", "background_color": "#FFFFFF"},
        headers=admin_headers,
    )
    clean = await client.get(f"/v1/accounts/{acct}/branding/drift", headers=admin_headers)
    assert clean.status_code == 200, clean.text
    assert clean.json()["in_sync"] is True

    sandbox_client.v1.accounts.update(
        acct, {"settings": {"branding": {"primary_color": "#FF00FF"}}}
    )
    resp = await client.get(f"/v1/accounts/{acct}/branding/drift", headers=admin_headers)
    report = resp.json()
    assert report["in_sync"] is False
    assert report["fields"] == {"button_color": {"expected": "#0A2540", "stripe": "#FF00FF"}}
    shown = (await client.get(f"/v1/accounts/{acct}/branding", headers=admin_headers)).json()
    assert shown["drift"]["detected"] is True
    assert shown["drift"]["fields"]["button_color"]["stripe"] == "#FF00FF"
    assert shown["drift"]["detected_at"]

    fixed = await client.patch(
        f"/v1/accounts/{acct}/branding", json={"button_color": "#0B2540"}, headers=admin_headers
    )
    assert fixed.json()["drift"]["detected"] is False


async def test_account_updated_event_records_drift_from_a_fresh_fetch(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    runtime: Runtime,
    sandbox_client: stripe.StripeClient,
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    await client.patch(
        f"/v1/accounts/{acct}/branding", json={"background_color": "#FFFFFF"}, headers=admin_headers
    )
    sandbox_client.v1.accounts.update(
        acct, {"settings": {"branding": {"secondary_color": "#000000"}}}
    )
    # A stale payload claiming nothing changed: the handler must not trust it.
    event = {
        "id": "evt_test_branding",
        "type": "account.updated",
        "account": acct,
        "data": {"object": {"id": acct, "object": "account", "settings": {"branding": {}}}},
    }
    async with runtime.session() as session, session.begin():
        await on_account_updated_branding(session, runtime.job_context(), event)
    shown = (await client.get(f"/v1/accounts/{acct}/branding", headers=admin_headers)).json()
    assert shown["drift"]["fields"] == {
        "background_color": {"expected": "#FFFFFF", "stripe": "#000000"}
    }

    # Unknown and never-written accounts are ignored.
    other = await create(client, admin_headers)
    async with runtime.session() as session, session.begin():
        await on_account_updated_branding(
            session,
            runtime.job_context(),
            {"id": "evt_x", "type": "account.updated", "account": other["id"]},
        )
        await on_account_updated_branding(
            session, runtime.job_context(), {"id": "evt_y", "data": {}}
        )


def test_branding_handler_is_wired_for_account_updated() -> None:
    from platform_service.webhooks.dispatch import handlers_for

    assert on_account_updated_branding in handlers_for("account.updated")


# -- access ------------------------------------------------------------------------


async def test_seller_reaches_only_its_own_branding(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyMaker
) -> None:
    mine = await create(client, admin_headers)
    theirs = await create(client, admin_headers)
    seller = await seller_headers(make_key, mine["id"])
    own = await client.patch(
        f"/v1/accounts/{mine['id']}/branding", json={"font_family": "inter"}, headers=seller
    )
    assert own.status_code == 200, own.text
    other = theirs["id"]
    for method, path, kwargs in [
        ("GET", f"/v1/accounts/{other}/branding", {}),
        ("PUT", f"/v1/accounts/{other}/branding", {"json": {"font_family": "inter"}}),
        ("PATCH", f"/v1/accounts/{other}/branding", {"json": {"font_family": "inter"}}),
        ("GET", f"/v1/accounts/{other}/branding/effective", {}),
        ("GET", f"/v1/accounts/{other}/branding/drift", {}),
        ("GET", f"/accounts/{other}/branding/preview", {}),
    ]:
        resp = await client.request(method, path, headers=seller, **kwargs)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.json()["error"]["code"] == "resource_missing"
    up = await upload(client, seller, other, "icon", image())
    assert up.status_code == 404


async def test_seller_cannot_edit_when_the_platform_disallows_it(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = await create(client, admin_headers)
    seller = await seller_headers(make_key, account["id"])
    monkeypatch.setattr(
        runtime, "settings", msgspec.structs.replace(runtime.settings, sellers_edit_branding=False)
    )
    resp = await client.patch(
        f"/v1/accounts/{account['id']}/branding", json={"font_family": "inter"}, headers=seller
    )
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "sellers_edit_branding_disabled"
    up = await upload(client, seller, account["id"], "icon", image())
    assert up.status_code == 403
    # Reading stays open to the seller; the admin can still edit.
    assert (
        await client.get(f"/v1/accounts/{account['id']}/branding", headers=seller)
    ).status_code == 200
    admin = await client.patch(
        f"/v1/accounts/{account['id']}/branding",
        json={"font_family": "inter"},
        headers=admin_headers,
    )
    assert admin.status_code == 200


# -- preview ---------------------------------------------------------------------------


async def test_preview_renders_the_portal_look_escaped_with_warnings(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_key: KeyMaker
) -> None:
    account = await create(client, admin_headers)
    acct = account["id"]
    icon_bytes = image(color=(10, 20, 30))
    up = await upload(client, admin_headers, acct, "icon", icon_bytes)
    assert up.status_code == 201
    await client.patch(
        f"/v1/accounts/{acct}/branding",
        json={
            "display_name": "<script>alert(1)</script> & Co",
            "button_color": "#EEEEEE",
            "background_color": "#FFFFFF",
            "font_family": "pridi",
            "border_style": "pill",
        },
        headers=admin_headers,
    )
    seller = await seller_headers(make_key, acct)
    resp = await client.get(f"/accounts/{acct}/branding/preview", headers=seller)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "Preview" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "data:image/png;base64," in html
    assert "Low contrast" in html
    assert "#EEEEEE" in html
    # Font and shapes come from Stripe's Dashboard: listed to set there, not drawn as applied.
    assert "border-radius: 999px" not in html and "Pridi" not in html.split("preview-checklist")[0]
    assert 'data-setting="font_family"' in html and "Pridi" in html
    assert 'data-setting="border_style"' in html
    assert "partners with Stripe to simplify billing." in html
    assert "sk_test" not in html

    headline = await client.get(
        f"/accounts/{acct}/branding/preview",
        params={"headline": "Manage your plan"},
        headers=seller,
    )
    assert "Manage your plan" in headline.text


async def test_preview_needs_a_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    resp = await client.get(f"/accounts/{account['id']}/branding/preview")
    assert resp.status_code == 401


# -- preview drafts (the console's editor frames the preview with unsaved values) ------


async def test_preview_draft_parameters_override_the_stored_values_and_store_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], sandbox: SandboxServer
) -> None:
    account = await create(client, admin_headers, charge_model="direct")
    acct = account["id"]
    saved = await client.patch(
        f"/v1/accounts/{acct}/branding",
        json={"button_color": "#0A2540", "display_name": "Saved Name"},
        headers=admin_headers,
    )
    assert saved.status_code == 200, saved.text
    # An icon uploaded (for another account) but not set on this one.
    icon = await uploaded(
        client, admin_headers, (await create(client, admin_headers))["id"], "icon"
    )
    since = log_position(sandbox)

    resp = await client.get(
        f"/accounts/{acct}/branding/preview",
        params={
            "button_color": "#aa0000",
            "background_color": "#FFFFFF",
            "display_name": "Draft <b>Name</b>",
            "icon": icon,
        },
        headers=admin_headers,
    )
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert 'data-button-color="#AA0000"' in html  # normalised like a PATCH
    assert 'data-background-color="#FFFFFF"' in html
    assert f'data-icon="{icon}"' in html and "data:image/png;base64," in html
    assert "Draft &lt;b&gt;Name&lt;/b&gt;" in html and "Saved Name" not in html
    # Nothing was written: the stored branding and Stripe are as they were.
    stored = (await client.get(f"/v1/accounts/{acct}/branding", headers=admin_headers)).json()
    assert stored["branding"]["button_color"] == "#0A2540"
    assert "icon" not in stored["branding"]
    assert branding_writes(sandbox, acct, since) == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"button_color": "red"}, "button_color"),
        ({"background_color": "#abc"}, "background_color"),
        ({"button_color": "#000000; background: url(x)"}, "button_color"),
        ({"display_name": " "}, "display_name"),
        ({"icon": "file_doesnotexist"}, "icon"),
        ({"icon": "javascript:alert(1)"}, "icon"),
    ],
)
async def test_preview_draft_parameters_are_checked_like_a_patch(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    params: dict[str, str],
    param: str,
) -> None:
    account = await create(client, admin_headers)
    resp = await client.get(
        f"/accounts/{account['id']}/branding/preview", params=params, headers=admin_headers
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_preview_draft_icon_must_be_an_icon_upload(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    logo = await uploaded(client, admin_headers, account["id"], "logo")
    resp = await client.get(
        f"/accounts/{account['id']}/branding/preview", params={"icon": logo}, headers=admin_headers
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "branding_file_purpose_mismatch"


async def test_preview_with_drafts_equal_to_the_stored_values_is_the_stored_preview(
    client: httpx.AsyncClient, admin_headers: dict[str, str], platform_defaults: dict[str, Any]
) -> None:
    account = await create(client, admin_headers, charge_model="destination_on_behalf_of")
    acct = account["id"]
    await client.patch(
        f"/v1/accounts/{acct}/branding", json={"button_color": "#AA0000"}, headers=admin_headers
    )
    stored = await client.get(f"/accounts/{acct}/branding/preview", headers=admin_headers)
    same = await client.get(
        f"/accounts/{acct}/branding/preview",
        params={"button_color": "#aa0000"},
        headers=admin_headers,
    )
    assert same.text == stored.text
    # A cleared colour falls back to the platform default, like the saved resolution would.
    inherited = await client.get(
        f"/accounts/{acct}/branding/preview", params={"button_color": ""}, headers=admin_headers
    )
    assert f'data-button-color="{platform_defaults["button_color"]}"' in inherited.text


async def test_only_this_origin_may_frame_the_preview(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    account = await create(client, admin_headers)
    resp = await client.get(f"/accounts/{account['id']}/branding/preview", headers=admin_headers)
    assert resp.headers["x-frame-options"] == "SAMEORIGIN"
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp
    assert "script-src" not in csp and "default-src 'none'" in csp  # no script runs there
    console = await client.get("/ui/login")
    assert "frame-src 'self'" in console.headers["content-security-policy"]
