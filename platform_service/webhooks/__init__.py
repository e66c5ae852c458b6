"""Stripe webhooks: signature check, the event inbox, dispatch to the domains, reconciliation."""
