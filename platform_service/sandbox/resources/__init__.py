"""Resource handlers; importing this package registers every route."""

from platform_service.sandbox.resources import (
    accounts,
    accounts_v2,
    billing,
    events_v2,
    files_events,
    portal,
)

__all__ = ["accounts", "accounts_v2", "billing", "events_v2", "files_events", "portal"]
