"""How a connected account's charges are made, which decides where its customers live.

DESIGN.md ("Charge models and branding resolution") holds the table; the rule
that turns a charge model into a Stripe call shape and a branding source lives
in one place only: `platform_service.branding.rules.resolve_branding`.
"""

from enum import StrEnum


class ChargeModel(StrEnum):
    """The charge model a platform uses with one connected account."""

    DIRECT = "direct"
    DESTINATION_ON_BEHALF_OF = "destination_on_behalf_of"
    DESTINATION = "destination"
    SEPARATE_CHARGES_AND_TRANSFERS = "separate_charges_and_transfers"
