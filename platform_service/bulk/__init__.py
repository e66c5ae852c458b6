"""Bulk jobs: one branding or portal-settings change pushed to many accounts."""
