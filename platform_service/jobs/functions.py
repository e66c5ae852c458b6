"""Imports the modules whose jobs the worker runs (each registers itself)."""

from platform_service.jobs import maintenance

__all__ = ["maintenance"]
