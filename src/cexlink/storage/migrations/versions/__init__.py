"""One Alembic revision per file, in order."""

__all__: list[str] = []
