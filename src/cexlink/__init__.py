"""cexlink: exchange accounts for a trading platform, with secrets kept in an isolated Sign Center."""

__all__ = ["__version__"]

__version__ = "0.1.0"
