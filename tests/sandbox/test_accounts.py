"""Connected accounts, branding files, account links and onboarding outcomes."""

from __future__ import annotations

import httpx
import pytest
import stripe

from platform_service.sandbox.server import SandboxServer
from tests.sandbox.helpers import png


def express(client: stripe.StripeClient, **extra: object) -> stripe.Account:
    params = {"controller": {"stripe_dashboard": {"type": "express"}}, "country": "US", **extra}
    return client.v1.accounts.create(params)  # type: ignore[arg-type]


def test_new_express_account_starts_with_requirements_due(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = express(
        sandbox_client,
        email="seller@example.com",
        business_profile={"name": "Seller"},
        capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
        metadata={"external_ref": "s-1"},
    )
    assert account.id.startswith("acct_")
    assert account.type == "express"
    assert account.details_submitted is False and account.charges_enabled is False
    assert account.requirements is not None and account.requirements.currently_due
    assert account.capabilities is not None
    assert account.capabilities.card_payments == "inactive"
    assert account.metadata is not None
    assert account.metadata.to_dict() == {"external_ref": "s-1"}
    fetched = sandbox_client.v1.accounts.retrieve(account.id)
    assert fetched.business_profile is not None and fetched.business_profile.name == "Seller"


def test_list_paginates_newest_first(sandbox_client: stripe.StripeClient) -> None:
    made = [express(sandbox_client).id for _ in range(3)]
    page = sandbox_client.v1.accounts.list({"limit": 2})
    assert [a.id for a in page.data] == made[::-1][:2] and page.has_more
    rest = sandbox_client.v1.accounts.list({"limit": 1, "starting_after": page.data[-1].id})
    assert rest.data[0].id == made[0]
    ids = [a.id for a in sandbox_client.v1.accounts.list({"limit": 100}).auto_paging_iter()]
    assert set(made) <= set(ids)


def test_branding_files_must_live_on_the_platform(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = express(sandbox_client)
    icon = sandbox_client.v1.files.create({"purpose": "business_icon", "file": png(200, 200)})
    logo = sandbox_client.v1.files.create({"purpose": "business_logo", "file": png(400, 200)})
    updated = sandbox_client.v1.accounts.update(
        account.id,
        {"settings": {"branding": {"icon": icon.id, "logo": logo.id, "primary_color": "#0A2540"}}},
    )
    assert updated.settings is not None and updated.settings.branding is not None
    assert updated.settings.branding.icon == icon.id
    assert updated.settings.branding.primary_color == "#0A2540"

    on_account = sandbox_client.v1.files.create(
        {"purpose": "business_logo", "file": png()}, {"stripe_account": account.id}
    )
    # Retrievable on the account, yet unusable for its branding, as on Stripe.
    sandbox_client.v1.files.retrieve(on_account.id, options={"stripe_account": account.id})
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.accounts.update(
            account.id, {"settings": {"branding": {"logo": on_account.id}}}
        )
    assert info.value.code == "resource_missing"
    assert info.value.param == "settings[branding][logo]"
    assert "No such file upload" in str(info.value.user_message)


@pytest.mark.parametrize(("size", "fragment"), [((300, 200), "square"), ((100, 100), "128px")])
def test_icon_must_be_square_and_large_enough(
    sandbox_client: stripe.StripeClient, size: tuple[int, int], fragment: str
) -> None:
    account = express(sandbox_client)
    icon = sandbox_client.v1.files.create({"purpose": "business_icon", "file": png(*size)})
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.accounts.update(account.id, {"settings": {"branding": {"icon": icon.id}}})
    assert info.value.param == "settings[branding][icon]"
    assert fragment in str(info.value.user_message)


def test_branding_upload_must_be_an_image_under_512kb(sandbox_client: stripe.StripeClient) -> None:
    import io

    blob = io.BytesIO(b"not an image")
    blob.name = "x.png"
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.files.create({"purpose": "business_logo", "file": blob})
    assert info.value.param == "file"


def test_uploaded_file_is_served_back(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient
) -> None:
    image = png(128, 128)
    uploaded = sandbox_client.v1.files.create({"purpose": "business_icon", "file": image})
    assert uploaded.url is not None
    contents = httpx.get(uploaded.url, headers={"Authorization": f"Bearer {sandbox.secret_key}"})
    assert contents.content == image.getvalue()
    assert contents.headers["content-type"] == "image/png"
    assert sandbox_client.v1.files.retrieve(uploaded.id).purpose == "business_icon"


def test_update_emits_account_updated_with_previous_attributes(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = express(sandbox_client)
    sandbox_client.v1.accounts.update(
        account.id, {"settings": {"branding": {"primary_color": "#111111"}}}
    )
    sandbox_client.v1.accounts.update(
        account.id, {"settings": {"branding": {"primary_color": "#222222"}}}
    )
    events = sandbox_client.v1.events.list(
        {"type": "account.updated"}, {"stripe_account": account.id}
    )
    latest = events.data[0]
    assert latest.account == account.id
    assert latest.data.object["settings"]["branding"]["primary_color"] == "#222222"
    previous = latest.data.previous_attributes
    assert previous is not None
    assert previous["settings"]["branding"]["primary_color"] == "#111111"
    again = sandbox_client.v1.events.retrieve(latest.id, options={"stripe_account": account.id})
    assert again.id == latest.id


def test_delete_and_reject(sandbox_client: stripe.StripeClient) -> None:
    doomed = express(sandbox_client)
    deleted = sandbox_client.v1.accounts.delete(doomed.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.accounts.retrieve(doomed.id)
    assert info.value.code == "resource_missing"
    with pytest.raises(stripe.PermissionError) as perm:
        sandbox_client.v1.customers.list(options={"stripe_account": doomed.id})
    assert perm.value.error is not None and perm.value.error.code == "account_invalid"

    bad = express(sandbox_client)
    rejected = sandbox_client.v1.accounts.reject(bad.id, {"reason": "fraud_other"})
    assert rejected.requirements is not None
    assert rejected.requirements.disabled_reason == "rejected.fraud"
    assert rejected.charges_enabled is False


def test_retrieve_current_is_the_platform_or_the_stripe_account(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient
) -> None:
    assert sandbox_client.v1.accounts.retrieve_current().id == sandbox.platform_account_id
    account = express(sandbox_client)
    current = sandbox_client.v1.accounts.retrieve_current(options={"stripe_account": account.id})
    assert current.id == account.id


@pytest.mark.parametrize(
    ("outcome", "details", "charges", "payouts", "disabled"),
    [
        ("complete", True, True, True, None),
        ("requirements_due", True, True, False, None),
        ("under_review", True, False, False, "under_review"),
        ("restricted", True, False, False, "requirements.past_due"),
        ("rejected", False, False, False, "rejected.fraud"),
    ],
)
def test_onboarding_outcomes_drive_the_account(
    sandbox: SandboxServer,
    sandbox_client: stripe.StripeClient,
    outcome: str,
    details: bool,
    charges: bool,
    payouts: bool,
    disabled: str | None,
) -> None:
    account = express(sandbox_client, capabilities={"card_payments": {"requested": True}})
    resp = httpx.post(
        f"{sandbox.url}/_sandbox/accounts/{account.id}/onboarding", json={"outcome": outcome}
    )
    assert resp.status_code == 200
    after = sandbox_client.v1.accounts.retrieve(account.id)
    assert (after.details_submitted, after.charges_enabled, after.payouts_enabled) == (
        details,
        charges,
        payouts,
    )
    assert after.requirements is not None
    assert after.requirements.disabled_reason == disabled
    if outcome == "requirements_due":
        assert after.requirements.currently_due and after.requirements.current_deadline
    types = [
        e.type for e in sandbox_client.v1.events.list(options={"stripe_account": account.id}).data
    ]
    assert "account.updated" in types


def test_account_link_page_completes_onboarding_once(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient
) -> None:
    account = express(sandbox_client)
    link = sandbox_client.v1.account_links.create(
        {
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://platform.example/refresh",
            "return_url": "https://platform.example/return",
        }
    )
    assert link.expires_at - link.created == 300
    page = httpx.get(link.url)
    assert page.status_code == 200 and "Sandbox" in page.text and account.id in page.text
    assert page.headers["stripe-sandbox"] == "platform_service"
    done = httpx.post(link.url, data={"outcome": "complete"})
    assert done.status_code in (302, 303)
    assert done.headers["location"] == "https://platform.example/return"
    assert sandbox_client.v1.accounts.retrieve(account.id).charges_enabled is True
    # Single use: a second visit goes to refresh_url.
    again = httpx.get(link.url)
    assert again.headers["location"] == "https://platform.example/refresh"


def test_half_complete_button_leaves_requirements_due(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = express(sandbox_client)
    link = sandbox_client.v1.account_links.create(
        {"account": account.id, "type": "account_onboarding"}
    )
    assert httpx.post(link.url, data={"outcome": "requirements_due"}).status_code == 200
    after = sandbox_client.v1.accounts.retrieve(account.id)
    assert after.details_submitted is True
    assert after.requirements is not None and after.requirements.currently_due


def test_account_update_links_only_for_platform_collected_requirements(
    sandbox_client: stripe.StripeClient,
) -> None:
    account = express(sandbox_client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        sandbox_client.v1.account_links.create({"account": account.id, "type": "account_update"})
    assert info.value.param == "type"
    custom = sandbox_client.v1.accounts.create({"type": "custom", "country": "US"})
    link = sandbox_client.v1.account_links.create({"account": custom.id, "type": "account_update"})
    assert link.url


def test_deauthorized_account_answers_403(
    sandbox: SandboxServer, sandbox_client: stripe.StripeClient
) -> None:
    account = express(sandbox_client)
    assert httpx.post(f"{sandbox.url}/_sandbox/accounts/{account.id}/deauthorize").is_success
    with pytest.raises(stripe.PermissionError) as info:
        sandbox_client.v1.customers.list(options={"stripe_account": account.id})
    assert info.value.http_status == 403
    assert info.value.error is not None and info.value.error.code == "account_invalid"


def test_missing_or_live_key_is_401(sandbox: SandboxServer) -> None:
    assert httpx.get(f"{sandbox.url}/v1/account").status_code == 401
    live = httpx.get(f"{sandbox.url}/v1/account", headers={"Authorization": "Bearer sk_live_x"})
    assert live.status_code == 401
    assert live.headers["stripe-sandbox"] == "platform_service"
    assert live.headers["request-id"].startswith("req_")
