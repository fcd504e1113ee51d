"""Pure domain types: connection statuses, exchange accounts, events. No I/O here."""
