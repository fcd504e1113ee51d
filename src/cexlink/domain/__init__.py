"""Pure domain types: connection statuses, exchange accounts, events. No I/O here."""

from .statuses import STATUS_INFO, Status, StatusInfo, is_transient, render

__all__ = ["STATUS_INFO", "Status", "StatusInfo", "is_transient", "render"]
