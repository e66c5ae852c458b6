"""Everything the service needs from Stripe, behind one gateway."""

from platform_service.stripe.errors import StripeErrorKind, StripeGatewayError
from platform_service.stripe.gateway import PINNED_API_VERSION, StripeGateway
from platform_service.stripe.idempotency import idempotency_key
from platform_service.stripe.metrics import StripeMetrics

__all__ = [
    "PINNED_API_VERSION",
    "StripeErrorKind",
    "StripeGateway",
    "StripeGatewayError",
    "StripeMetrics",
    "idempotency_key",
]
