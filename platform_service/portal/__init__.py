"""Customer portal: the settings document, its compilation to Stripe, sessions."""
