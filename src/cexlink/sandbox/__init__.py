"""The sandbox exchange: Binance, OKX and Bybit wire formats over one ledger, for tests, demos and bot developers."""

from .clients import ccxt_client, point_ccxt
from .server import SandboxServer

__all__ = ["SandboxServer", "ccxt_client", "point_ccxt"]
