"""Customers, products, prices, coupons, promotion codes and subscriptions: just enough
of Billing for portal scenarios, each stored on the account the request acts as."""

from __future__ import annotations

from typing import Any

from stripe.params._coupon_create_params import CouponCreateParams
from stripe.params._coupon_list_params import CouponListParams
from stripe.params._coupon_retrieve_params import CouponRetrieveParams
from stripe.params._customer_create_params import CustomerCreateParams
from stripe.params._customer_delete_params import CustomerDeleteParams
from stripe.params._customer_list_params import CustomerListParams
from stripe.params._customer_retrieve_params import CustomerRetrieveParams
from stripe.params._customer_update_params import CustomerUpdateParams
from stripe.params._price_create_params import PriceCreateParams
from stripe.params._price_list_params import PriceListParams
from stripe.params._price_retrieve_params import PriceRetrieveParams
from stripe.params._product_create_params import ProductCreateParams
from stripe.params._product_list_params import ProductListParams
from stripe.params._product_retrieve_params import ProductRetrieveParams
from stripe.params._product_update_params import ProductUpdateParams
from stripe.params._promotion_code_create_params import PromotionCodeCreateParams
from stripe.params._promotion_code_list_params import PromotionCodeListParams
from stripe.params._promotion_code_retrieve_params import PromotionCodeRetrieveParams
from stripe.params._subscription_create_params import SubscriptionCreateParams
from stripe.params._subscription_list_params import SubscriptionListParams
from stripe.params._subscription_retrieve_params import SubscriptionRetrieveParams

from platform_service.sandbox import v2_accounts
from platform_service.sandbox.errors import StripeError, invalid_request, resource_missing
from platform_service.sandbox.routing import (
    Ctx,
    Params,
    apply_metadata,
    blank_to_none,
    created_filter,
    paginate,
    route,
)
from platform_service.sandbox.state import new_id, now

_PERIOD = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


def _base(prefix: str, kind: str, params: Params, id_param: bool = False) -> dict[str, Any]:
    object_id = params.get("id") if id_param and params.get("id") else new_id(prefix)
    obj: dict[str, Any] = {"id": object_id, "object": kind, "created": now(), "livemode": False}
    obj["metadata"] = {}
    apply_metadata(obj, params.get("metadata"))
    return obj


def _filtered(ctx: Ctx, kind: str, params: Params, **equal: Any) -> list[dict[str, Any]]:
    items = created_filter(ctx.scope.table(kind).values(), params.get("created"))
    for key, value in equal.items():
        if value is not None:
            items = [o for o in items if o.get(key) == value]
    return items


# -- customers ---------------------------------------------------------------------------


@route("POST", "/v1/customers", CustomerCreateParams)
def create_customer(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    customer = _base("cus_", "customer", params)
    for key in ("name", "email", "description", "phone"):
        customer[key] = params.get(key)
    customer["address"] = blank_to_none(params.get("address"))
    customer["preferred_locales"] = params.get("preferred_locales", [])
    return ctx.scope.put("customers", customer)


@route("GET", "/v1/customers", CustomerListParams)
def list_customers(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = _filtered(ctx, "customers", params, email=params.get("email"))
    return paginate(ctx, items, params, "/v1/customers")


@route("GET", "/v1/customers/{id}", CustomerRetrieveParams)
def retrieve_customer(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    customer: dict[str, Any] = ctx.require("customers", args["id"], "customer")
    return customer


@route("POST", "/v1/customers/{id}", CustomerUpdateParams)
def update_customer(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    customer: dict[str, Any] = ctx.require("customers", args["id"], "customer")
    for key in ("name", "email", "description", "phone"):
        if key in params:
            customer[key] = blank_to_none(params[key])
    apply_metadata(customer, params.get("metadata"))
    return customer


@route("DELETE", "/v1/customers/{id}", CustomerDeleteParams)
def delete_customer(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    ctx.require("customers", args["id"], "customer")
    del ctx.scope.table("customers")[args["id"]]
    return {"id": args["id"], "object": "customer", "deleted": True}


# -- products and prices -------------------------------------------------------------------


@route("POST", "/v1/products", ProductCreateParams)
def create_product(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    if params.get("id") and ctx.scope.get("products", params["id"]):
        raise invalid_request(
            f"Product already exists: {params['id']}", param="id", code="resource_already_exists"
        )
    product = _base("prod_", "product", params, id_param=True)
    product.update(
        active=params.get("active", True),
        name=params["name"],
        description=params.get("description"),
        default_price=None,
        type=params.get("type", "service"),
        updated=product["created"],
    )
    ctx.scope.put("products", product)
    if data := params.get("default_price_data"):
        price = _new_price(ctx, {**data, "product": product["id"]})
        product["default_price"] = price["id"]
    return product


@route("GET", "/v1/products", ProductListParams)
def list_products(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = _filtered(ctx, "products", params, active=params.get("active"))
    return paginate(ctx, items, params, "/v1/products")


@route("GET", "/v1/products/{id}", ProductRetrieveParams)
def retrieve_product(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = ctx.require("products", args["id"], "product")
    return product


@route("POST", "/v1/products/{id}", ProductUpdateParams)
def update_product(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = ctx.require("products", args["id"], "product")
    for key in ("name", "active", "description"):
        if key in params:
            product[key] = blank_to_none(params[key])
    apply_metadata(product, params.get("metadata"))
    product["updated"] = now()
    return product


def _new_price(ctx: Ctx, params: Params) -> dict[str, Any]:
    product_id = params.get("product")
    if product_id is None and "product_data" in params:
        product_id = create_product(ctx, params["product_data"], {})["id"]
    if product_id is None:
        raise invalid_request(
            "Missing required param: product.", param="product", code="parameter_missing"
        )
    if ctx.scope.get("products", product_id) is None:
        raise resource_missing("product", product_id, param="product")
    price = _base("price_", "price", params)
    recurring = params.get("recurring")
    price.update(
        active=params.get("active", True),
        currency=params["currency"],
        nickname=params.get("nickname"),
        product=product_id,
        unit_amount=params.get("unit_amount"),
        lookup_key=params.get("lookup_key"),
        type="recurring" if recurring else "one_time",
        recurring=(
            {
                "interval": recurring["interval"],
                "interval_count": recurring.get("interval_count", 1),
                "usage_type": recurring.get("usage_type", "licensed"),
            }
            if recurring
            else None
        ),
    )
    return ctx.scope.put("prices", price)


@route("POST", "/v1/prices", PriceCreateParams)
def create_price(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    return _new_price(ctx, params)


@route("GET", "/v1/prices", PriceListParams)
def list_prices(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = _filtered(
        ctx, "prices", params, product=params.get("product"), active=params.get("active")
    )
    if params.get("type"):
        items = [p for p in items if p["type"] == params["type"]]
    return paginate(ctx, items, params, "/v1/prices")


@route("GET", "/v1/prices/{id}", PriceRetrieveParams)
def retrieve_price(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    price: dict[str, Any] = ctx.require("prices", args["id"], "price")
    return price


# -- coupons and promotion codes ---------------------------------------------------------


@route("POST", "/v1/coupons", CouponCreateParams)
def create_coupon(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    if "percent_off" not in params and "amount_off" not in params:
        raise invalid_request("Must provide one of `percent_off` or `amount_off`.")
    if "amount_off" in params and "currency" not in params:
        raise invalid_request("You must pass currency when passing amount_off", param="currency")
    coupon = _base("", "coupon", params, id_param=True)
    if not params.get("id"):
        coupon["id"] = new_id("", 8)
    coupon.update(
        amount_off=params.get("amount_off"),
        currency=params.get("currency"),
        duration=params.get("duration", "once"),
        duration_in_months=params.get("duration_in_months"),
        name=params.get("name"),
        percent_off=params.get("percent_off"),
        valid=True,
    )
    return ctx.scope.put("coupons", coupon)


@route("GET", "/v1/coupons", CouponListParams)
def list_coupons(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    return paginate(ctx, _filtered(ctx, "coupons", params), params, "/v1/coupons")


@route("GET", "/v1/coupons/{id}", CouponRetrieveParams)
def retrieve_coupon(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    coupon: dict[str, Any] = ctx.require("coupons", args["id"], "coupon")
    return coupon


@route("POST", "/v1/promotion_codes", PromotionCodeCreateParams)
def create_promotion_code(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    promotion = params["promotion"]
    coupon_id = promotion.get("coupon")
    if not coupon_id:
        raise invalid_request(
            "Missing required param: promotion[coupon].",
            param="promotion[coupon]",
            code="parameter_missing",
        )
    ctx.require("coupons", coupon_id, "coupon", param="promotion[coupon]")
    code = params.get("code") or new_id("", 8).upper()
    if any(p["code"] == code and p["active"] for p in ctx.scope.table("promotion_codes").values()):
        raise StripeError(400, f"An active promotion code with `code: {code}` already exists.",
                          param="code")  # fmt: skip
    promo = _base("promo_", "promotion_code", params)
    promo.update(
        active=params.get("active", True),
        code=code,
        promotion={"type": "coupon", "coupon": coupon_id},
        customer=params.get("customer"),
        expires_at=params.get("expires_at"),
        max_redemptions=params.get("max_redemptions"),
        times_redeemed=0,
    )
    return ctx.scope.put("promotion_codes", promo)


@route("GET", "/v1/promotion_codes", PromotionCodeListParams)
def list_promotion_codes(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = _filtered(
        ctx, "promotion_codes", params, code=params.get("code"), active=params.get("active")
    )
    if coupon := params.get("coupon"):
        items = [p for p in items if p["promotion"]["coupon"] == coupon]
    return paginate(ctx, items, params, "/v1/promotion_codes")


@route("GET", "/v1/promotion_codes/{id}", PromotionCodeRetrieveParams)
def retrieve_promotion_code(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    promo: dict[str, Any] = ctx.require("promotion_codes", args["id"], "promotion code")
    return promo


# -- subscriptions -----------------------------------------------------------------------


@route("POST", "/v1/subscriptions", SubscriptionCreateParams)
def create_subscription(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    customer_id, customer_account = v2_accounts.require_customer(
        ctx.state, ctx.scope.account_id, params
    )
    items = params.get("items") or []
    if not items:
        raise invalid_request(
            "Missing required param: items.", param="items", code="parameter_missing"
        )
    on_behalf_of = blank_to_none(params.get("on_behalf_of"))
    if on_behalf_of and on_behalf_of not in ctx.state.accounts():
        raise resource_missing("account", on_behalf_of, param="on_behalf_of")
    start = now()
    sub = _base("sub_", "subscription", params)
    sub_items = []
    interval = "month"
    for i, item in enumerate(items):
        price_id = item.get("price")
        if not price_id:
            raise invalid_request("Missing required param: items[0][price].",
                                  param=f"items[{i}][price]", code="parameter_missing")  # fmt: skip
        price = ctx.require("prices", price_id, "price", param=f"items[{i}][price]")
        if price["recurring"]:
            interval = price["recurring"]["interval"]
        sub_items.append(
            {
                "id": new_id("si_"),
                "object": "subscription_item",
                "price": price,
                "quantity": item.get("quantity", 1),
                "current_period_start": start,
                "current_period_end": start + _PERIOD[interval],
            }
        )
    trial_days = params.get("trial_period_days")
    sub.update(
        customer=customer_id,
        customer_account=customer_account,
        status="trialing" if trial_days else "active",
        on_behalf_of=on_behalf_of,
        transfer_data=params.get("transfer_data"),
        cancel_at_period_end=params.get("cancel_at_period_end", False),
        canceled_at=None,
        currency=sub_items[0]["price"]["currency"],
        start_date=start,
        trial_end=start + trial_days * 86400 if trial_days else None,
        items={"object": "list", "data": sub_items, "has_more": False,
               "url": f"/v1/subscription_items?subscription={sub['id']}"},
    )  # fmt: skip
    return ctx.scope.put("subscriptions", sub)


@route("GET", "/v1/subscriptions", SubscriptionListParams)
def list_subscriptions(ctx: Ctx, params: Params, _: dict[str, str]) -> dict[str, Any]:
    items = _filtered(
        ctx,
        "subscriptions",
        params,
        customer=params.get("customer"),
        customer_account=params.get("customer_account"),
    )
    status = params.get("status")
    if status and status != "all":
        items = [s for s in items if s["status"] == status]
    elif not status:
        items = [s for s in items if s["status"] != "canceled"]
    return paginate(ctx, items, params, "/v1/subscriptions")


@route("GET", "/v1/subscriptions/{id}", SubscriptionRetrieveParams)
def retrieve_subscription(ctx: Ctx, params: Params, args: dict[str, str]) -> dict[str, Any]:
    sub: dict[str, Any] = ctx.require("subscriptions", args["id"], "subscription")
    return sub
