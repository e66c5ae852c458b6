"""The console's defences, over real HTTP: the session cookie, CSRF tokens and Origin checks,
security headers, HTML error pages beside the API's JSON ones, and the language choice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update

from platform_service.auth import audit
from platform_service.auth.keys import revoke_key
from platform_service.auth.models import ApiKey, ConsoleSession
from platform_service.db.base import utcnow
from tests.fixtures.app import KeyMaker, Served
from tests.integration.test_accounts import create

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def browser_like(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies and sends the Origin a browser would."""
    async with httpx.AsyncClient(
        base_url=served.url, headers={"Origin": served.url}, timeout=30
    ) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    form = await client.get("/ui/login")
    token = TOKEN.search(form.text)
    assert token, form.text
    return await client.post(
        "/ui/login", data={"key": key, "csrf_token": token.group(1)}, headers=headers
    )


async def page_token(client: httpx.AsyncClient, path: str) -> str:
    found = TOKEN.search((await client.get(path)).text)
    assert found
    return found.group(1)


async def test_console_pages_send_the_security_headers(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        for path in ("/ui/login", "/ui/no-such-page", "/ui/static/console.css"):
            resp = await client.get(path)
            csp = resp.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "unsafe-inline" not in csp
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in (await client.get("/ui/login")).text  # no inline script


async def test_console_errors_are_pages_and_the_api_keeps_json(
    served: Served, browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    missing = await browser_like.get("/ui/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert 'href="/ui/"' in missing.text  # a way back
    api = await browser_like.get("/v1/no-such-route", headers={"Authorization": "Bearer x"})
    assert api.headers["content-type"].startswith("application/json")
    assert "error" in api.json()

    await sign_in(browser_like, await make_key("admin"))
    unknown_job = await browser_like.get("/ui/bulk-jobs/job_nope")
    assert unknown_job.status_code == 404
    assert "resource_missing" in unknown_job.text
    bad_cursor = await browser_like.get("/ui/audit", params={"starting_after": "evt_nope"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.headers["content-type"].startswith("text/html")


async def test_the_session_cookie_is_an_opaque_strict_httponly_id(
    browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key("admin")
    signed = await sign_in(browser_like, key)
    assert signed.status_code == 303, signed.text
    set_cookie = next(
        h for h in signed.headers.get_list("set-cookie") if h.startswith("ps_session=")
    )
    assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()
    assert "Max-Age=" in set_cookie  # it expires
    assert "Secure" not in set_cookie  # plain http here
    value = set_cookie.split(";")[0].split("=", 1)[1]
    assert key not in value and key.split("_", 2)[2] not in value
    assert (await browser_like.get("/ui/accounts")).status_code == 200


async def test_over_https_the_cookie_is_secure_and_host_only(
    browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    # uvicorn trusts X-Forwarded-Proto from the loopback proxy, as behind a TLS terminator.
    signed = await sign_in(browser_like, await make_key("admin"), **{"X-Forwarded-Proto": "https"})
    assert signed.status_code == 303, signed.text
    set_cookie = next(
        h for h in signed.headers.get_list("set-cookie") if h.startswith("__Host-ps_session=")
    )
    assert "Secure" in set_cookie and "Path=/" in set_cookie and "Domain" not in set_cookie


async def test_sign_in_needs_the_form_token_and_this_origin(
    served: Served, make_key: KeyMaker
) -> None:
    key = await make_key("admin")
    async with httpx.AsyncClient(base_url=served.url) as client:
        form = await client.get("/ui/login")
        token = TOKEN.search(form.text)
        assert token
        no_origin = await client.post("/ui/login", data={"key": key, "csrf_token": token.group(1)})
        assert no_origin.status_code == 403
        elsewhere = await client.post(
            "/ui/login",
            data={"key": key, "csrf_token": token.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        no_token = await client.post("/ui/login", data={"key": key}, headers={"Origin": served.url})
        assert no_token.status_code == 403
        assert "ps_session" not in client.cookies
        # An unknown key opens nothing, whatever the form carries.
        unknown = await client.post("/ui/login", data={"key": "psk_a_b"})
        assert unknown.status_code == 401


async def test_console_posts_need_the_session_token_and_this_origin(
    served: Served,
    browser_like: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
    client: httpx.AsyncClient,
) -> None:
    account = await create(client, admin_headers)
    await sign_in(browser_like, await make_key("admin"))
    path = f"/ui/accounts/{account['id']}/refresh"
    token = await page_token(browser_like, f"/ui/accounts/{account['id']}")

    assert (await browser_like.post(path)).status_code == 403
    assert (await browser_like.post(path, data={"csrf_token": "forged"})).status_code == 403
    cross_site = await browser_like.post(
        path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert cross_site.headers["content-type"].startswith("text/html")
    # Referer stands in for a missing Origin.
    del browser_like.headers["Origin"]
    by_referer = await browser_like.post(
        path, data={"csrf_token": token}, headers={"Referer": f"{served.url}/ui/accounts"}
    )
    assert by_referer.status_code == 303
    assert by_referer.headers["location"] == f"/ui/accounts/{account['id']}?notice=refreshed"
    synced = await client.get(
        "/v1/audit-events",
        params={"account_id": account["id"], "action": "account.synced"},
        headers=admin_headers,
    )
    assert synced.status_code == 200

    # Another session's token is not this session's.
    async with httpx.AsyncClient(base_url=served.url, headers={"Origin": served.url}) as other:
        await sign_in(other, await make_key("admin"))
        assert (await other.post(path, data={"csrf_token": token})).status_code == 403


async def test_expired_sessions_and_revoked_keys_sign_the_browser_out(
    served: Served, browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key("admin")
    await sign_in(browser_like, key)
    assert (await browser_like.get("/ui/accounts")).status_code == 200
    async with served.runtime.session() as session, session.begin():
        await revoke_key(session, key.split("_")[1])
    gone = await browser_like.get("/ui/accounts")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")

    key = await make_key("admin")
    await sign_in(browser_like, key)
    assert (await browser_like.get("/ui/accounts")).status_code == 200
    async with served.runtime.session() as session, session.begin():
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.prefix == key.split("_")[1]))
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.key_id == key_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await browser_like.get("/ui/accounts")
    assert expired.status_code == 303


async def test_language_follows_accept_language_then_the_switcher(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        french = await client.get(
            "/ui/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
        )
        assert '<html lang="fr">' in french.text and "Se connecter" in french.text
        assert french.headers["content-language"] == "fr"
        english = await client.get("/ui/login", headers={"Accept-Language": "de, en;q=0.8"})
        assert '<html lang="en">' in english.text

        switched = await client.get("/ui/language/en", params={"next": "/ui/login"})
        assert switched.status_code == 303 and switched.headers["location"] == "/ui/login"
        remembered = await client.get("/ui/login", headers={"Accept-Language": "fr"})
        assert '<html lang="en">' in remembered.text

        # The switcher only ever sends the browser back into the console.
        for target in ("//evil.example/ui", "https://evil.example", "/v1/accounts"):
            away = await client.get("/ui/language/fr", params={"next": target})
            assert away.headers["location"] == "/ui/", target


async def test_back_from_stripe_the_page_reloads_itself_to_get_the_strict_cookie(
    served: Served,
    browser_like: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    make_key: KeyMaker,
) -> None:
    account = await create(client, admin_headers)
    back = f"/ui/accounts/{account['id']}/onboarding-return"
    # Stripe's redirect is cross-site: the browser sends no SameSite=Strict cookie.
    first = await browser_like.get(back)
    assert first.status_code == 200
    assert f'content="0;url={back}?hop=1"' in first.text
    # Reloaded from the console's own page, still without a session: sign in, then back.
    second = await browser_like.get(f"{back}?hop=1")
    assert second.status_code == 303
    assert second.headers["location"] == "/ui/login?next=" + quote(f"{back}?hop=1", safe="")
    form = await browser_like.get(second.headers["location"])
    token = TOKEN.search(form.text)
    assert token and f'name="next" value="{back}?hop=1"' in form.text
    signed = await browser_like.post(
        "/ui/login",
        data={
            "key": await make_key("admin"),
            "csrf_token": token.group(1),
            "next": f"{back}?hop=1",
        },
    )
    assert signed.headers["location"] == f"{back}?hop=1"
    synced = await browser_like.get(signed.headers["location"])
    assert (
        synced.status_code == 303 and synced.headers["location"] == f"/ui/accounts/{account['id']}"
    )


async def test_the_audit_log_pages_through_its_filter(
    served: Served, browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    action = f"test.console_page_{secrets.token_hex(3)}"
    async with served.runtime.session() as session, session.begin():
        for n in range(30):
            await audit.record(
                session, actor="system:test", action=action, account_id=None, after={"n": n}
            )
    await sign_in(browser_like, await make_key("admin"))
    first = await browser_like.get("/ui/audit", params={"action": action, "actor": "system"})
    assert first.text.count('data-testid="audit-action"') == 25
    next_link = re.search(r'href="(/ui/audit\?[^"]*starting_after=[^"]+)"', first.text)
    assert next_link
    second = await browser_like.get(next_link.group(1).replace("&amp;", "&"))
    assert second.text.count('data-testid="audit-action"') == 5
    assert "starting_after" not in second.text.split('class="pager"')[1]


async def test_paths_no_console_page_handles_are_pages_too(
    browser_like: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    await sign_in(browser_like, await make_key("admin"))
    for method, path, status in [
        ("GET", "/ui/accounts/acct_x/no/such/page", 404),
        ("DELETE", "/ui/accounts", 405),
    ]:
        resp = await browser_like.request(method, path)
        assert resp.status_code == status, (method, path, resp.text[:200])
        assert resp.headers["content-type"].startswith("text/html"), (method, path)
        assert 'href="/ui/"' in resp.text
    api = await browser_like.delete("/v1/accounts", headers={"Authorization": "Bearer x"})
    assert api.headers["content-type"].startswith("application/json")
