"""The one exception tree of cexlink.

    CexlinkError
    ├── ConfigError            a setting is missing or malformed
    ├── InputError             caller input is wrong; ``field`` names it (maps to HTTP 422)
    ├── SignerError            talking to the Sign Center failed
    │   ├── SignerRefused      it would not sign (or store); ``reason`` is a policy reason code
    │   └── SignerUnavailable  it could not be reached, or answered out of protocol
    └── SandboxError           the sandbox exchange refused an admin request
        └── NotFound           the account, key or order does not exist

Messages never carry secret material: callers pass field names and positions, not values.
"""

from __future__ import annotations


class CexlinkError(Exception):
    """Base of every error cexlink raises on purpose."""


class ConfigError(CexlinkError):
    pass


class InputError(CexlinkError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SignerError(CexlinkError):
    pass


class SignerRefused(SignerError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class SignerUnavailable(SignerError):
    pass


class SandboxError(CexlinkError):
    pass


class NotFound(SandboxError):
    pass
