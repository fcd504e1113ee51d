"""What an exchange's request signature covers: the data that decides whether the Sign Center may hand a signed
request back to its caller, or must send it itself (``forward``).

A signature given to a caller is a bearer token for every request it still verifies for. Binance (HMAC over the
query and body) and Bybit v5 (timestamp, key, recvWindow and the query or body) sign the *parameters* only: a
signature made for an allowed endpoint is equally valid on ``/sapi/v1/capital/withdraw/apply``, and one made for
``order/test`` places a real order at ``order``. OKX binds the path but sends its passphrase in clear in a
header. Those requests never leave the Sign Center signed; it sends them itself, to the URL it built.

An exchange not in the table is forwarded: handing a signature back is the exception that must be known safe.
Sources: each exchange's API docs on signing (shared/reference/exchanges.md §2), and ccxt's ``sign()``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIGNING", "Signing", "returns_signature"]


@dataclass(frozen=True)
class Signing:
    binds_request: bool  # method, path, query and body are all under the signature
    secret_in_request: bool  # the signed request carries secret material in clear (a passphrase header)
    scheme: str  # what is signed, in the exchange's words

    @property
    def returnable(self) -> bool:
        return self.binds_request and not self.secret_in_request


SIGNING: dict[str, Signing] = {
    "binance": Signing(False, False, "HMAC-SHA256 / Ed25519 over query string + body"),
    "bybit": Signing(False, False, "HMAC-SHA256 over timestamp + key + recvWindow + (query | body)"),
    "okx": Signing(True, True, "HMAC-SHA256 over timestamp + METHOD + requestPath + body; passphrase header"),
    "kucoin": Signing(True, False, "HMAC-SHA256 over timestamp + METHOD + endpoint + body; passphrase HMAC'd"),
    "kraken": Signing(True, False, "HMAC-SHA512 over URI path + SHA256(nonce + POST data)"),
    "gate": Signing(True, False, "HMAC-SHA512 over METHOD, path, query, SHA512(body), timestamp"),
}


def returns_signature(exchange: str) -> bool:
    """May a signed request for ``exchange`` be handed to the caller (True), or must the Sign Center send it?"""
    signing = SIGNING.get(exchange)
    return signing is not None and signing.returnable
