"""The Sign Center: the only process that holds exchange secrets; it signs requests under a policy.

This package exports its client side only: importing it loads no engine, policy or secret store.
"""

from .client import AsyncHttpSignerClient, AsyncSignerClient, ForwardFailed, SignerClient

__all__ = ["AsyncHttpSignerClient", "AsyncSignerClient", "ForwardFailed", "SignerClient"]
