"""The REST API: an app factory over the account service."""
