"""Alembic migrations of the app database (``db.migrate`` runs them)."""

__all__: list[str] = []
