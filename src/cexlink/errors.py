"""The one exception tree of cexlink.

Every exception class of the project is drawn here, with its module where it is not defined in this one
(``tests/test_errors.py`` walks the classes and fails when the drawing and the code disagree). A class lives
beside the code that raises it when only that code needs it; the tree is one all the same.

    CexlinkError
    ├── ConfigError                  a setting is missing or malformed
    ├── InputError                   caller input is wrong; ``field`` names it (HTTP 422 in api/)
    ├── AccountRefused               a connection (or a change to one) was refused; ``reason``, ``remedy``
    ├── SignerError                  talking to the Sign Center failed
    │   ├── SignerRefused            it would not sign (or store); ``reason`` is a policy reason code (str)
    │   │   ├── Refused              [signer.policy] raised inside the Sign Center; ``reason`` is a ``Reason`` value
    │   │   └── SignCenterRefused    [ccxt] what ccxt callers see: also a ``ccxt.PermissionDenied``, raised from
    │   │                            the SignerRefused it carries the ``reason`` of
    │   └── SignerUnavailable        it could not be reached, or answered out of protocol
    │       └── ForwardFailed        [signer.client] it signed a forwarded request but could not reach the exchange
    ├── StorageError                 [storage.errors] the app database refused or failed an operation
    │   ├── NotFound                 [storage.errors] no such row *for this owner*
    │   └── Conflict                 [storage.errors] a uniqueness rule was broken; ``field`` names the column
    ├── ProbeFailed                  [exchanges.probes] the exchange refused the key; ``classified`` says why
    ├── Unauthorized                 [api.failures] no valid API token (the REST API's 401)
    ├── ApiError                     [cli_client] the CLI's view of an API error answer (or of no answer)
    ├── SealBroken                   [signer.keystore] a ciphertext does not open under its binding
    ├── KekError                     [signer.kek] the key-encryption key cannot do what was asked
    │   ├── KekRetired               [signer.kek] that KEK version was retired
    │   └── WrappedKeyInvalid        [signer.pkcs11kek] a wrapped data key does not open (also a ValueError)
    └── AuditUnavailable             [signer.audit] the audit record could not be written: refuse (fail closed)

Outside the tree, never crossing a boundary (each is caught in its own module):

    AdminInputError                  [sandbox.admin_input] bad input to the sandbox's admin API (its own 4xx answers)
    Reject                           [sandbox.rejects] an exchange-format refusal the sandbox answers with
    FileInUse                        [signer.appendfile] the audit file is held by another writer (an OSError)
    _FieldTwice                      [signer.audit_verify] a JSON object with a repeated key (a ValueError)

One translation per boundary: the Sign Center's wire types in ``signer/protocol.py`` and back in
``signer/client.py``; ccxt and exchange errors to connection statuses in ``exchanges/classify.py``; a Sign Center
refusal to ccxt in ``ccxt.py`` (``SignCenterRefused``, chained); our errors to HTTP in ``api/failures.py`` only.
Messages never carry secret material: callers pass field names and positions, not values.
"""

from __future__ import annotations

from typing import Any


class CexlinkError(Exception):
    """Base of every error cexlink raises on purpose."""


class ConfigError(CexlinkError):
    pass


class InputError(CexlinkError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AccountRefused(CexlinkError):
    """The connection (or change) was refused; ``reason`` is a status or a conflict word, with what to do.

    A domain error: the API chooses its HTTP status from ``reason`` (``api/failures.py``)."""

    def __init__(self, reason: str, message: str, remedy: str, field: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.remedy = reason, message, remedy
        self.field = field
        self.details = details or {}

    def as_json(self) -> dict[str, Any]:
        return {"error": self.reason, "message": self.message, "remedy": self.remedy, "field": self.field,
                **self.details}


class SignerError(CexlinkError):
    pass


class SignerRefused(SignerError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: str = reason
        self.message = message


class SignerUnavailable(SignerError):
    pass
