"""Per-exchange knowledge as data: the error table and ``classify()``."""
