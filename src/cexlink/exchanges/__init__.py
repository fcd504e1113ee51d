"""Per-exchange knowledge as data: capabilities, where requests go, what a signature covers, ``classify()``.

Only the light tables are exported here; ``probes`` (which asks exchanges through ccxt) is imported by name.
"""

from .capabilities import CAPABILITIES, SANDBOXED, Capability
from .classify import Classified, classify
from .endpoints import point_ccxt
from .signing import returns_signature

__all__ = ["CAPABILITIES", "SANDBOXED", "Capability", "Classified", "classify", "point_ccxt", "returns_signature"]
