"""The REST API: an app factory over the account service, and the server that runs it."""

from .app import create_app
from .server import build_app, serve

__all__ = ["build_app", "create_app", "serve"]
