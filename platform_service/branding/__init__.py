"""Branding: per-account and platform branding, the resolution rule, uploads, preview."""
