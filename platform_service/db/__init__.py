"""Persistence: the engine and session factory, the declarative base, migrations."""
