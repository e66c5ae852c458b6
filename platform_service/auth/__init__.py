"""API keys, roles, the tenant guard and the audit log."""
