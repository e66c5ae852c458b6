"""Resource handlers; importing this package registers every route."""

from platform_service.sandbox.resources import accounts, billing, files_events, portal

__all__ = ["accounts", "billing", "files_events", "portal"]
