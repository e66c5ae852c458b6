"""The one Stripe gateway: the only module of the service that imports `stripe`.

Domain code gets plain JSON dicts back and `StripeGatewayError` on failure; it
never sees stripe-python's classes. Parameters are typed with the SDK's own
TypedDicts, re-exported here so callers don't import `stripe` themselves.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Literal, TypeVar

import msgspec
import stripe
from stripe._api_version import _ApiVersion
from stripe._base_address import BaseAddresses
from stripe.params import (
    AccountCreateParams as AccountCreateParams,
)
from stripe.params import (
    AccountLinkCreateParams as AccountLinkCreateParams,
)
from stripe.params import (
    AccountListParams as AccountListParams,
)
from stripe.params import (
    AccountUpdateParams as AccountUpdateParams,
)
from stripe.params import (
    AccountUpdateParamsBusinessProfile as AccountUpdateParamsBusinessProfile,
)
from stripe.params import (
    AccountUpdateParamsSettings as AccountUpdateParamsSettings,
)
from stripe.params import (
    AccountUpdateParamsSettingsBranding as AccountUpdateParamsSettingsBranding,
)
from stripe.params import (
    CustomerCreateParams as CustomerCreateParams,
)
from stripe.params.billing_portal import (
    ConfigurationCreateParams as PortalConfigurationCreateParams,
)
from stripe.params.billing_portal import (
    ConfigurationCreateParamsFeatures as PortalConfigurationCreateParamsFeatures,
)
from stripe.params.billing_portal import (
    ConfigurationListParams as PortalConfigurationListParams,
)
from stripe.params.billing_portal import (
    ConfigurationUpdateParams as PortalConfigurationUpdateParams,
)
from stripe.params.billing_portal import (
    ConfigurationUpdateParamsFeatures as PortalConfigurationUpdateParamsFeatures,
)
from stripe.params.billing_portal import (
    SessionCreateParams as PortalSessionCreateParams,
)
from stripe.params.billing_portal import (
    SessionCreateParamsFlowData as PortalSessionCreateParamsFlowData,
)
from stripe.params.v2.core import (
    AccountCreateParams as V2AccountCreateParams,
)
from stripe.params.v2.core import (
    AccountLinkCreateParams as V2AccountLinkCreateParams,
)
from stripe.params.v2.core import (
    AccountListParams as V2AccountListParams,
)
from stripe.params.v2.core import (
    AccountUpdateParams as V2AccountUpdateParams,
)
from stripe.params.v2.core import (
    EventListParams as V2EventListParams,
)

from platform_service.stripe.errors import (
    StripeErrorKind,
    StripeGatewayError,
    map_stripe_error,
    signature_error,
)
from platform_service.stripe.idempotency import retry_key
from platform_service.stripe.metrics import StripeMetrics, default_metrics

__all__ = [
    "JSON",
    "PINNED_API_VERSION",
    "V2_ACCOUNT_INCLUDE",
    "AccountCreateParams",
    "AccountLinkCreateParams",
    "AccountListParams",
    "AccountUpdateParams",
    "AccountUpdateParamsBusinessProfile",
    "AccountUpdateParamsSettings",
    "AccountUpdateParamsSettingsBranding",
    "BeforeCall",
    "CustomerCreateParams",
    "FilePurpose",
    "PortalConfigurationCreateParams",
    "PortalConfigurationCreateParamsFeatures",
    "PortalConfigurationListParams",
    "PortalConfigurationUpdateParams",
    "PortalConfigurationUpdateParamsFeatures",
    "PortalSessionCreateParams",
    "PortalSessionCreateParamsFlowData",
    "RejectReason",
    "StripeGateway",
    "StripeGatewayError",
    "V2AccountCreateParams",
    "V2AccountLinkCreateParams",
    "V2AccountListParams",
    "V2AccountUpdateParams",
    "V2EventListParams",
    "V2Include",
]

logger = logging.getLogger(__name__)

PINNED_API_VERSION: str = _ApiVersion.CURRENT

JSON = dict[str, Any]
# Awaited before every request (each page of a list too) with the operation, e.g.
# "accounts.update", and the account it acts as or on: the Stripe-Account for scoped
# calls, the path's account for /v1/accounts/{id}, None on the platform. The bulk
# jobs' shared rate limiter plugs in here; raising aborts the call unsent.
BeforeCall = Callable[[str, str | None], Awaitable[None]]
FilePurpose = Literal["business_icon", "business_logo"]
RejectReason = Literal["fraud", "terms_of_service", "other"]

_T = TypeVar("_T")
_Obj = TypeVar("_Obj", bound=stripe.StripeObject)

# Stripe throttles account creation apart from its other limits (< 5/s with test keys,
# < 30/s live) and answers 400 `rate_limit`, which the SDK never retries. The throttle
# counts a second at a time, so these pauses (up to about 2.5 s in all) let a burst of
# creations through instead of failing one a second past the fifth.
_ACCOUNT_CREATE_TRIES = 5
_ACCOUNT_CREATE_PAUSE_S = 0.25

# What an Accounts v2 read asks for: v2 answers only the parts named in `include`,
# and the service reads the merchant configuration (branding, capabilities), the
# identity (country), the requirements and the defaults (responsibilities).
V2Include = Literal[
    "configuration.customer",
    "configuration.merchant",
    "configuration.recipient",
    "defaults",
    "future_requirements",
    "identity",
    "requirements",
]
V2_ACCOUNT_INCLUDE: tuple[V2Include, ...] = (
    "configuration.customer",
    "configuration.merchant",
    "configuration.recipient",
    "defaults",
    "identity",
    "requirements",
)

# Stripe's maximum page size: fewer list calls, which the concurrency limiter
# counts heavily.
_PAGE_LIMIT = 100


def _invalid(why: str) -> StripeGatewayError:
    return signature_error(f"invalid webhook payload: {why}", code="invalid_payload")


# The two bodies Stripe delivers, by their `object`, as a refusal names them.
_PAYLOADS = {"event": "snapshot event", "v2.core.event": "thin (v2) event notification"}


def _envelope(payload: bytes, kind: Literal["event", "v2.core.event"]) -> JSON:
    """The decoded body, checked for what snapshot events and thin notifications share:
    a JSON object of `kind` with a non-empty string `id` and `type`."""
    if b"\\u0000" in payload:
        # PostgreSQL's jsonb cannot store NUL; Stripe never sends one.
        raise _invalid("contains a NUL character")
    try:
        event = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise _invalid(str(exc)) from exc
    if not isinstance(event, dict):
        raise _invalid("not a JSON object")
    if event.get("object") != kind:
        other = _PAYLOADS.get(str(event.get("object")))
        if other is not None:
            raise _invalid(f"a {other}; this endpoint takes a {_PAYLOADS[kind]}")
        raise _invalid(f'"object" is not "{kind}"')
    for key in ("id", "type"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise _invalid(f'"{key}" must be a non-empty string')
    return event


def _event_envelope(payload: bytes) -> JSON:
    """The decoded snapshot event, or `invalid_payload` naming what is wrong with it."""
    event = _envelope(payload, "event")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < 2**41:
        raise _invalid('"created" must be a Unix timestamp')
    if event.get("account") is not None and not isinstance(event["account"], str):
        raise _invalid('"account" must be a string')
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise _invalid('"data.object" must be an object')
    return event


def _thin_envelope(payload: bytes) -> JSON:
    """The decoded thin event notification, or `invalid_payload` naming what is wrong."""
    event = _envelope(payload, "v2.core.event")
    created = event.get("created")
    try:
        datetime.fromisoformat(created if isinstance(created, str) else "")
    except ValueError as exc:
        raise _invalid('"created" must be an ISO 8601 timestamp') from exc
    if event.get("context") is not None and not isinstance(event["context"], str):
        raise _invalid('"context" must be a string')
    related = event.get("related_object")
    if related is not None and (
        not isinstance(related, dict)
        or not all(isinstance(related.get(k), str) for k in ("id", "type", "url"))
    ):
        raise _invalid('"related_object" must have string "id", "type" and "url"')
    return event


def _verified(
    payload: bytes, sig_header: str | None, secrets: Sequence[str], tolerance: int
) -> bytes:
    """`payload` once its `Stripe-Signature` matches one of `secrets` (rotation)."""
    usable = [secret for secret in secrets if secret]
    if not usable:
        # Refuse rather than accept unsigned events when nothing is configured.
        raise signature_error("no webhook signing secret configured", code="no_secret")
    if not sig_header:
        raise signature_error("missing Stripe-Signature header", code="missing_signature")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise signature_error("invalid webhook payload: not UTF-8", code="invalid_payload") from exc
    last: stripe.SignatureVerificationError | None = None
    for secret in usable:
        try:
            stripe.WebhookSignature.verify_header(text, sig_header, secret, tolerance)
        except stripe.SignatureVerificationError as exc:
            last = exc
            continue
        return payload
    message = last.user_message if last is not None else None
    raise signature_error(str(message or "signature verification failed"))


def _json(obj: stripe.StripeObject) -> JSON:
    # for_json turns Decimals back into the strings Stripe sent.
    return obj.to_dict(recursive=True, for_json=True)


def carries(obj: Any, params: Any) -> bool:
    """Whether a Stripe object shows every value `params` would write to it.

    `""` is Stripe's "unset"; lists of plain values compare as sets (Stripe may
    reorder them), lists of objects item by item; colours ignore case.
    """
    if isinstance(params, dict):
        if obj is None:
            obj = {}  # a hash Stripe leaves null until something is set in it
        if not isinstance(obj, dict):
            return False
        return all(carries(obj.get(name), value) for name, value in params.items())
    if params == "":
        return obj in (None, "", [], {})
    if isinstance(params, list):
        if not isinstance(obj, list) or len(obj) != len(params):
            return False
        if any(isinstance(item, dict | list) for item in params):
            return all(carries(a, w) for a, w in zip(obj, params, strict=True))
        return sorted(map(str, obj)) == sorted(map(str, params))
    if isinstance(params, str) and isinstance(obj, str) and params.startswith("#"):
        return params.casefold() == obj.casefold()
    return bool(obj == params)


def _answered_5xx(error: StripeGatewayError) -> bool:
    return error.http_status is not None and error.http_status >= 500


class StripeGateway:
    """Typed async access to the Stripe API through one `StripeClient`."""

    def __init__(
        self,
        *,
        secret_key: str,
        api_base: str | None = None,
        api_version: str = PINNED_API_VERSION,
        max_network_retries: int = 2,
        timeout_s: float = 20.0,
        before_call: BeforeCall | None = None,
        metrics: StripeMetrics | None = None,
    ) -> None:
        self._http_client = stripe.HTTPXClient(timeout=timeout_s)
        base_addresses: BaseAddresses | None = None
        if api_base is not None:
            base_addresses = {"api": api_base, "files": api_base, "connect": api_base}
        self._client = stripe.StripeClient(
            secret_key,
            stripe_version=api_version,
            base_addresses=base_addresses,
            # StripeClient retries nothing unless told; the SDK's loop covers
            # 409/5xx/connection errors/Stripe-Should-Retry with the same
            # idempotency key, and deliberately leaves plain 429s to the caller.
            max_network_retries=max_network_retries,
            http_client=self._http_client,
        )
        self._before_call = before_call
        self._metrics = metrics if metrics is not None else default_metrics()
        self.api_version = api_version

    async def aclose(self) -> None:
        """Close the underlying HTTP connection pool."""
        await self._http_client.close_async()  # type: ignore[no-untyped-call]  # SDK leaves it unannotated

    # -- plumbing -----------------------------------------------------------

    async def _call(
        self,
        operation: str,
        stripe_account: str | None,
        request: Callable[[], Awaitable[_T]],
    ) -> _T:
        if self._before_call is not None:
            await self._before_call(operation, stripe_account)
        # Only the operation and account: params may carry URLs or personal data.
        logger.debug("stripe.%s", operation, extra={"stripe_account": stripe_account})
        started = time.perf_counter()
        try:
            result = await request()
        except stripe.StripeError as exc:
            error = map_stripe_error(exc, stripe_account=stripe_account)
            self._metrics.observe(operation, time.perf_counter() - started, error.kind.value)
            raise error from exc
        self._metrics.observe(operation, time.perf_counter() - started)
        return result

    async def _json_call(
        self,
        operation: str,
        stripe_account: str | None,
        request: Callable[[], Awaitable[_Obj]],
    ) -> JSON:
        return _json(await self._call(operation, stripe_account, request))

    async def _write(
        self,
        operation: str,
        stripe_account: str | None,
        send: Callable[[str], Awaitable[_Obj]],
        key: str,
        landed: Callable[[], Awaitable[JSON | None]],
    ) -> JSON:
        """A write that survives Stripe's stored 5xx answers.

        Stripe keeps the outcome of every request it started under its idempotency
        key, a 500 included, and replays it to each retry. After a 5xx, `landed`
        reads the object back: if it shows the write, the write succeeded. If not
        and the 5xx was a replay, the key can only repeat that 500, so the write
        goes again under the next derived key (`retry_key`); a fresh 5xx is raised
        for the caller to retry (it may not have been stored). Every step is
        deterministic, so a re-run walks the same keys and applies nothing twice.
        """
        attempt_key = key
        generation = 0
        while True:
            try:
                return await self._json_call(operation, stripe_account, partial(send, attempt_key))
            except StripeGatewayError as error:
                if not _answered_5xx(error):
                    raise
                found = await landed()
                if found is not None:
                    logger.info(
                        "stripe.%s answered %s but the write is there",
                        operation,
                        error.http_status,
                        extra={"stripe_account": stripe_account, "idempotency_key": attempt_key},
                    )
                    return found
                if not error.replayed:
                    raise
                generation += 1
                attempt_key = retry_key(key, generation)

    async def _paginate(
        self,
        operation: str,
        stripe_account: str | None,
        fetch_page: Callable[[str | None], Awaitable[stripe.ListObject[_Obj]]],
    ) -> AsyncIterator[JSON]:
        # Paging by hand (not auto_paging_iter) so every page goes through the
        # before_call hook, the metrics and the error mapping.
        starting_after: str | None = None
        while True:
            page = await self._call(operation, stripe_account, partial(fetch_page, starting_after))
            for item in page.data:
                yield _json(item)
            if not page.has_more or not page.data:
                return
            starting_after = str(page.data[-1]["id"])

    @staticmethod
    def _options(
        stripe_account: str | None, idempotency_key: str | None = None
    ) -> stripe.RequestOptions:
        options: stripe.RequestOptions = {}
        if stripe_account is not None:
            options["stripe_account"] = stripe_account
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > 255:
                raise ValueError("idempotency_key must be 1-255 characters (Stripe's limit)")
            options["idempotency_key"] = idempotency_key
        return options

    # -- accounts (always on the platform: the id is in the path) -----------

    async def create_account(self, params: AccountCreateParams, *, idempotency_key: str) -> JSON:
        """Create a connected account, waiting out Stripe's account-creation throttle."""
        send = partial(
            self._client.v1.accounts.create_async, params, self._options(None, idempotency_key)
        )
        return await self._create_throttled("accounts.create", send)

    async def _create_throttled(self, operation: str, send: Callable[[], Awaitable[_Obj]]) -> JSON:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._json_call(operation, None, send)
            except StripeGatewayError as error:
                throttled = error.kind is StripeErrorKind.RATE_LIMITED and error.http_status == 400
                if not throttled or attempt == _ACCOUNT_CREATE_TRIES:
                    raise
            # A throttled request is not stored, so the same key goes again.
            await asyncio.sleep(random.uniform(0.5, 1.0) * _ACCOUNT_CREATE_PAUSE_S * attempt)

    async def retrieve_account(
        self, account_id: str, *, expand: Sequence[str] | None = None
    ) -> JSON:
        """Fetch a connected account."""
        return await self._json_call(
            "accounts.retrieve",
            account_id,
            partial(
                self._client.v1.accounts.retrieve_async,
                account_id,
                {"expand": list(expand)} if expand else None,
                self._options(None),
            ),
        )

    async def update_account(
        self, account_id: str, params: AccountUpdateParams, *, idempotency_key: str
    ) -> JSON:
        """Update a connected account (e.g. `settings.branding`, `business_profile.name`)."""

        def send(key: str) -> Awaitable[stripe.Account]:
            return self._client.v1.accounts.update_async(
                account_id, params, self._options(None, key)
            )

        async def landed() -> JSON | None:
            account = await self.retrieve_account(account_id)
            return account if carries(account, params) else None

        return await self._write("accounts.update", account_id, send, idempotency_key, landed)

    async def iter_accounts(self, params: AccountListParams | None = None) -> AsyncIterator[JSON]:
        """Iterate over every connected account, fetching pages of 100 lazily."""
        base: AccountListParams = {"limit": _PAGE_LIMIT, **(params or {})}

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Account]]:
            page_params = base.copy()
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.accounts.list_async(page_params, self._options(None))

        async for account in self._paginate("accounts.list", None, fetch):
            yield account

    async def delete_account(self, account_id: str) -> JSON:
        """Delete a connected account (no idempotency key: v1 ignores it on DELETE)."""
        return await self._json_call(
            "accounts.delete",
            account_id,
            partial(self._client.v1.accounts.delete_async, account_id, None, self._options(None)),
        )

    async def reject_account(
        self, account_id: str, *, reason: RejectReason, idempotency_key: str
    ) -> JSON:
        """Reject a connected account (fraud, terms of service or other)."""
        return await self._json_call(
            "accounts.reject",
            account_id,
            partial(
                self._client.v1.accounts.reject_async,
                account_id,
                {"reason": reason},
                self._options(None, idempotency_key),
            ),
        )

    async def retrieve_current_account(self, *, stripe_account: str | None) -> JSON:
        """Fetch the account the key (or `stripe_account`) refers to: `GET /v1/account`."""
        return await self._json_call(
            "account.retrieve_current",
            stripe_account,
            partial(
                self._client.v1.accounts.retrieve_current_async,
                None,
                self._options(stripe_account),
            ),
        )

    async def create_account_link(
        self, params: AccountLinkCreateParams, *, idempotency_key: str
    ) -> JSON:
        """Create a hosted onboarding/update link (a bearer URL: never log or store it)."""
        return await self._json_call(
            "account_links.create",
            params.get("account"),
            partial(
                self._client.v1.account_links.create_async,
                params,
                self._options(None, idempotency_key),
            ),
        )

    # -- accounts v2 (/v2/core/accounts: JSON bodies, `include` for the parts) -

    async def create_account_v2(
        self, params: V2AccountCreateParams, *, idempotency_key: str
    ) -> JSON:
        """Create an Accounts v2 account (merchant and/or customer), with its included parts."""
        send = partial(
            self._client.v2.core.accounts.create_async,
            {"include": list(V2_ACCOUNT_INCLUDE), **params},
            self._options(None, idempotency_key),
        )
        return await self._create_throttled("v2.accounts.create", send)

    async def retrieve_account_v2(
        self,
        account_id: str,
        *,
        include: Sequence[V2Include] = V2_ACCOUNT_INCLUDE,
        stripe_context: str | None = None,
    ) -> JSON:
        """Fetch an Accounts v2 account with the parts named in `include`."""
        return await self._json_call(
            "v2.accounts.retrieve",
            account_id,
            partial(
                self._client.v2.core.accounts.retrieve_async,
                account_id,
                {"include": list(include)},
                self._context_options(stripe_context),
            ),
        )

    async def update_account_v2(
        self, account_id: str, params: V2AccountUpdateParams, *, idempotency_key: str
    ) -> JSON:
        """Update an Accounts v2 account (e.g. `configuration.merchant.branding`)."""
        body: V2AccountUpdateParams = {"include": list(V2_ACCOUNT_INCLUDE), **params}

        def send(key: str) -> Awaitable[stripe.v2.core.Account]:
            return self._client.v2.core.accounts.update_async(
                account_id, body, self._options(None, key)
            )

        async def landed() -> JSON | None:
            account = await self.retrieve_account_v2(account_id)
            written = {name: value for name, value in params.items() if name != "include"}
            return account if carries(account, written) else None

        return await self._write("v2.accounts.update", account_id, send, idempotency_key, landed)

    async def iter_accounts_v2(
        self, params: V2AccountListParams | None = None, *, stripe_context: str | None = None
    ) -> AsyncIterator[JSON]:
        """Iterate over every Accounts v2 account (of `stripe_context`, e.g. the customer
        Accounts of a connected account), following `next_page_url`."""
        first: V2AccountListParams = {"limit": _PAGE_LIMIT, **(params or {})}
        options = self._context_options(stripe_context)
        async for account in self._paginate_v2(
            "v2.accounts.list",
            partial(self._client.v2.core.accounts.list_async, first, options),
            options,
        ):
            yield account

    async def create_account_link_v2(
        self, params: V2AccountLinkCreateParams, *, idempotency_key: str
    ) -> JSON:
        """Create a v2 onboarding/update link (a bearer URL: never log or store it)."""
        return await self._json_call(
            "v2.account_links.create",
            params.get("account"),
            partial(
                self._client.v2.core.account_links.create_async,
                params,
                self._options(None, idempotency_key),
            ),
        )

    async def retrieve_event_v2(self, event_id: str, *, stripe_context: str | None = None) -> JSON:
        """Fetch the full v2 event behind a thin notification."""
        return await self._json_call(
            "v2.events.retrieve",
            None,
            partial(
                self._client.v2.core.events.retrieve_async,
                event_id,
                None,
                self._context_options(stripe_context),
            ),
        )

    async def iter_events_v2(self, params: V2EventListParams | None = None) -> AsyncIterator[JSON]:
        """Iterate over v2 events (newest first), following `next_page_url`."""
        first: V2EventListParams = {"limit": _PAGE_LIMIT, **(params or {})}
        options = self._options(None)
        async for event in self._paginate_v2(
            "v2.events.list",
            partial(self._client.v2.core.events.list_async, first, options),
            options,
        ):
            yield event

    async def _paginate_v2(
        self,
        operation: str,
        first_page: Callable[[], Awaitable[Any]],
        options: stripe.RequestOptions,
    ) -> AsyncIterator[JSON]:
        # v2 lists page by an opaque `next_page_url`; each page goes through
        # `_call` (rate limiter, metrics, error mapping) like v1's pages.
        page: Any = await self._call(operation, None, first_page)
        while True:
            for item in page.data:
                yield _json(item)
            url = page.next_page_url
            if not url or not page.data:
                return
            response = await self._call(
                operation, None, partial(self._client.raw_request_async, "get", url, **options)
            )
            page = self._client.deserialize(response, api_mode="V2")

    def _context_options(self, stripe_context: str | None) -> stripe.RequestOptions:
        options = self._options(None)
        if stripe_context is not None:
            options["stripe_context"] = stripe_context
        return options

    # -- files (always on the platform) -------------------------------------

    async def upload_file(
        self, purpose: FilePurpose, filename: str, content: bytes, *, idempotency_key: str
    ) -> JSON:
        """Upload a branding image on the platform, for use in any account's `settings.branding`."""
        # Never with Stripe-Account: a file uploaded on the connected account
        # makes `accounts.update` fail with "No such file upload"; the platform
        # owns branding files and passes their ids to the account.
        upload = io.BytesIO(content)
        upload.name = filename
        return await self._json_call(
            "files.create",
            None,
            partial(
                self._client.v1.files.create_async,
                {"purpose": purpose, "file": upload},
                self._options(None, idempotency_key),
            ),
        )

    async def retrieve_file(self, file_id: str) -> JSON:
        """Fetch a file's metadata (on the platform, where branding files live)."""
        return await self._json_call(
            "files.retrieve",
            None,
            partial(self._client.v1.files.retrieve_async, file_id, None, self._options(None)),
        )

    # -- customers, catalogue -----------------------------------------------

    async def create_customer(
        self,
        params: CustomerCreateParams,
        *,
        stripe_account: str | None,
        idempotency_key: str,
    ) -> JSON:
        """Create a customer on the platform or on a connected account."""
        return await self._json_call(
            "customers.create",
            stripe_account,
            partial(
                self._client.v1.customers.create_async,
                params,
                self._options(stripe_account, idempotency_key),
            ),
        )

    async def retrieve_customer(self, customer_id: str, *, stripe_account: str | None) -> JSON:
        """Fetch a customer."""
        return await self._json_call(
            "customers.retrieve",
            stripe_account,
            partial(
                self._client.v1.customers.retrieve_async,
                customer_id,
                None,
                self._options(stripe_account),
            ),
        )

    async def list_customers(
        self,
        *,
        stripe_account: str | None,
        limit: int = _PAGE_LIMIT,
        starting_after: str | None = None,
        email: str | None = None,
    ) -> tuple[list[JSON], bool]:
        """One page of customers, newest first, and whether more follow (a picker pages on)."""
        params: stripe.params.CustomerListParams = {"limit": max(1, min(limit, _PAGE_LIMIT))}
        if starting_after is not None:
            params["starting_after"] = starting_after
        if email is not None:
            params["email"] = email
        page = await self._call(
            "customers.list",
            stripe_account,
            partial(self._client.v1.customers.list_async, params, self._options(stripe_account)),
        )
        return [_json(c) for c in page.data], bool(page.has_more)

    async def list_customer_subscriptions(
        self, customer: str, *, stripe_account: str | None, limit: int = _PAGE_LIMIT
    ) -> list[JSON]:
        """The customer's subscriptions, any status (one page: enough to tell whose they are).

        `customer` is a Customer (cus_…) or a customer Account of Accounts v2 (acct_…).
        """
        params: stripe.params.SubscriptionListParams = {
            "status": "all",
            "limit": max(1, min(limit, _PAGE_LIMIT)),
        }
        if customer.startswith("acct_"):
            params["customer_account"] = customer
        else:
            params["customer"] = customer
        page = await self._call(
            "subscriptions.list",
            stripe_account,
            partial(
                self._client.v1.subscriptions.list_async, params, self._options(stripe_account)
            ),
        )
        return [_json(sub) for sub in page.data]

    async def retrieve_product(self, product_id: str, *, stripe_account: str | None) -> JSON:
        """Fetch a product."""
        return await self._json_call(
            "products.retrieve",
            stripe_account,
            partial(
                self._client.v1.products.retrieve_async,
                product_id,
                None,
                self._options(stripe_account),
            ),
        )

    async def retrieve_price(self, price_id: str, *, stripe_account: str | None) -> JSON:
        """Fetch a price."""
        return await self._json_call(
            "prices.retrieve",
            stripe_account,
            partial(
                self._client.v1.prices.retrieve_async,
                price_id,
                None,
                self._options(stripe_account),
            ),
        )

    async def list_prices(
        self, *, product: str, stripe_account: str | None, active: bool | None = None
    ) -> list[JSON]:
        """Return every price of one product (all pages)."""

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Price]]:
            page_params: stripe.params.PriceListParams = {
                "product": product,
                "limit": _PAGE_LIMIT,
            }
            if active is not None:
                page_params["active"] = active
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.prices.list_async(page_params, self._options(stripe_account))

        return [price async for price in self._paginate("prices.list", stripe_account, fetch)]

    async def list_products(
        self, *, stripe_account: str | None, active: bool | None = None
    ) -> list[JSON]:
        """Return the account's products (all pages)."""

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Product]]:
            page_params: stripe.params.ProductListParams = {"limit": _PAGE_LIMIT}
            if active is not None:
                page_params["active"] = active
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.products.list_async(page_params, self._options(stripe_account))

        return [product async for product in self._paginate("products.list", stripe_account, fetch)]

    async def list_recurring_prices(
        self, *, stripe_account: str | None, active: bool | None = None
    ) -> list[JSON]:
        """Return the account's recurring prices, of every product (all pages)."""

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Price]]:
            page_params: stripe.params.PriceListParams = {
                "type": "recurring",
                "limit": _PAGE_LIMIT,
            }
            if active is not None:
                page_params["active"] = active
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.prices.list_async(page_params, self._options(stripe_account))

        return [price async for price in self._paginate("prices.list", stripe_account, fetch)]

    async def list_coupons(self, *, stripe_account: str | None) -> list[JSON]:
        """Return the account's coupons (all pages)."""

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Coupon]]:
            page_params: stripe.params.CouponListParams = {"limit": _PAGE_LIMIT}
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.coupons.list_async(page_params, self._options(stripe_account))

        return [coupon async for coupon in self._paginate("coupons.list", stripe_account, fetch)]

    async def retrieve_coupon(self, coupon_id: str, *, stripe_account: str | None) -> JSON:
        """Fetch a coupon."""
        return await self._json_call(
            "coupons.retrieve",
            stripe_account,
            partial(
                self._client.v1.coupons.retrieve_async,
                coupon_id,
                None,
                self._options(stripe_account),
            ),
        )

    async def retrieve_promotion_code(
        self, promotion_code_id: str, *, stripe_account: str | None
    ) -> JSON:
        """Fetch a promotion code."""
        return await self._json_call(
            "promotion_codes.retrieve",
            stripe_account,
            partial(
                self._client.v1.promotion_codes.retrieve_async,
                promotion_code_id,
                None,
                self._options(stripe_account),
            ),
        )

    # -- customer portal ----------------------------------------------------

    async def create_portal_configuration(
        self,
        params: PortalConfigurationCreateParams,
        *,
        stripe_account: str | None,
        idempotency_key: str,
    ) -> JSON:
        """Create a billing portal configuration (never the account's default)."""
        configurations = self._client.v1.billing_portal.configurations

        def send(key: str) -> Awaitable[stripe.billing_portal.Configuration]:
            return configurations.create_async(params, self._options(stripe_account, key))

        async def landed() -> JSON | None:
            # The newest active one that carries every parameter, metadata included.
            existing = await self.list_portal_configurations(
                {"active": True}, stripe_account=stripe_account
            )
            return next((c for c in existing if carries(c, params)), None)

        return await self._write(
            "billing_portal.configurations.create", stripe_account, send, idempotency_key, landed
        )

    async def update_portal_configuration(
        self,
        configuration_id: str,
        params: PortalConfigurationUpdateParams,
        *,
        stripe_account: str | None,
        idempotency_key: str,
    ) -> JSON:
        """Update a billing portal configuration (`active=False` retires it)."""
        configurations = self._client.v1.billing_portal.configurations

        def send(key: str) -> Awaitable[stripe.billing_portal.Configuration]:
            return configurations.update_async(
                configuration_id, params, self._options(stripe_account, key)
            )

        async def landed() -> JSON | None:
            current = await self.retrieve_portal_configuration(
                configuration_id, stripe_account=stripe_account
            )
            return current if carries(current, params) else None

        return await self._write(
            "billing_portal.configurations.update", stripe_account, send, idempotency_key, landed
        )

    async def retrieve_portal_configuration(
        self, configuration_id: str, *, stripe_account: str | None
    ) -> JSON:
        """Fetch a billing portal configuration."""
        return await self._json_call(
            "billing_portal.configurations.retrieve",
            stripe_account,
            partial(
                self._client.v1.billing_portal.configurations.retrieve_async,
                configuration_id,
                None,
                self._options(stripe_account),
            ),
        )

    async def list_portal_configurations(
        self,
        params: PortalConfigurationListParams | None = None,
        *,
        stripe_account: str | None,
    ) -> list[JSON]:
        """Return the account's billing portal configurations (all pages)."""
        base: PortalConfigurationListParams = {"limit": _PAGE_LIMIT, **(params or {})}

        def fetch(
            starting_after: str | None,
        ) -> Awaitable[stripe.ListObject[stripe.billing_portal.Configuration]]:
            page_params = base.copy()
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.billing_portal.configurations.list_async(
                page_params, self._options(stripe_account)
            )

        operation = "billing_portal.configurations.list"
        return [cfg async for cfg in self._paginate(operation, stripe_account, fetch)]

    async def create_portal_session(
        self,
        params: PortalSessionCreateParams,
        *,
        stripe_account: str | None,
        idempotency_key: str,
    ) -> JSON:
        """Open a portal session; its `url` is a bearer credential: never log or store it."""
        return await self._json_call(
            "billing_portal.sessions.create",
            stripe_account,
            partial(
                self._client.v1.billing_portal.sessions.create_async,
                params,
                self._options(stripe_account, idempotency_key),
            ),
        )

    # -- events and webhooks ------------------------------------------------

    async def iter_events(
        self,
        *,
        stripe_account: str | None,
        created_gte: int | None = None,
        types: Sequence[str] | None = None,
    ) -> AsyncIterator[JSON]:
        """Iterate over events (newest first, as Stripe lists them), e.g. to replay missed ones."""

        def fetch(starting_after: str | None) -> Awaitable[stripe.ListObject[stripe.Event]]:
            page_params: stripe.params.EventListParams = {"limit": _PAGE_LIMIT}
            if created_gte is not None:
                page_params["created"] = {"gte": created_gte}
            if types:
                page_params["types"] = list(types)
            if starting_after is not None:
                page_params["starting_after"] = starting_after
            return self._client.v1.events.list_async(page_params, self._options(stripe_account))

        async for event in self._paginate("events.list", stripe_account, fetch):
            yield event

    async def retrieve_event(self, event_id: str, *, stripe_account: str | None) -> JSON:
        """Fetch one event."""
        return await self._json_call(
            "events.retrieve",
            stripe_account,
            partial(
                self._client.v1.events.retrieve_async,
                event_id,
                None,
                self._options(stripe_account),
            ),
        )

    def construct_event(
        self,
        payload: bytes,
        sig_header: str | None,
        secrets: Sequence[str],
        tolerance: int = 300,
    ) -> JSON:
        """Verify a webhook against any of `secrets` (rotation) and return the event.

        The signature is checked with the SDK's `WebhookSignature`; the body is then
        decoded once into plain JSON (building the SDK's `Event` object tree and
        turning it back into a dict cost about a sixth of a delivery's CPU) and its
        envelope checked, so a signed body that is not a Stripe event is refused
        rather than stored half-read.
        """
        return _event_envelope(_verified(payload, sig_header, secrets, tolerance))

    def parse_thin_event(
        self,
        payload: bytes,
        sig_header: str | None,
        secrets: Sequence[str],
        tolerance: int = 300,
    ) -> JSON:
        """Verify a thin (v2) event notification from an event destination and return it.

        The same signature scheme as snapshot webhooks (`Stripe-Signature`, any of
        `secrets`); the notification names the event and its related object only,
        so whoever acts on it fetches both (`retrieve_event_v2`, the object's URL).
        """
        return _thin_envelope(_verified(payload, sig_header, secrets, tolerance))

    # -- readiness ----------------------------------------------------------

    async def ping(self) -> None:
        """Check Stripe answers with this key (a cheap `GET /v1/account`)."""
        await self._call(
            "account.retrieve_current",
            None,
            partial(self._client.v1.accounts.retrieve_current_async, None, self._options(None)),
        )
