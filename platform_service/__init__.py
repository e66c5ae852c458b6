"""platform_service: Stripe Connect branding, portal settings and bulk jobs."""
