"""platform_service: Stripe Connect branding, portal settings and bulk jobs."""

__version__ = "0.1.0"
