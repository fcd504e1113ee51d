"""Request-weight counting per exchange and caller, with the ban that follows ignored 429s (Binance's 418)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .rejects import Reason, Reject


@dataclass
class LimitConfig:
    enabled: bool = True
    weight_per_window: int = 6000  # Binance: 6000 request weight per minute per IP
    window_seconds: float = 60.0
    ban_after: int = 0  # refused requests within one window before a ban (0 = never ban)
    ban_seconds: float = 120.0  # Binance's first ban lasts 2 minutes


@dataclass
class _Window:
    start: float = 0.0
    used: int = 0
    refused: int = 0


@dataclass
class RateLimiter:
    clock: Callable[[], float]
    configs: dict[str, LimitConfig] = field(default_factory=dict)
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _bans: dict[tuple[str, str], float] = field(default_factory=dict)

    def config(self, exchange: str) -> LimitConfig:
        return self.configs.setdefault(exchange, LimitConfig())

    def hit(self, exchange: str, caller: str, weight: int = 1) -> int:
        """Count ``weight`` for ``caller``; return the weight used in this window or raise a Reject."""
        cfg = self.config(exchange)
        now = self.clock()
        key = (exchange, caller)
        banned_until = self._bans.get(key)
        if banned_until is not None:
            if now < banned_until:
                raise Reject(Reason.IP_BANNED, until=int(banned_until * 1000),
                             retry_after=max(1, int(banned_until - now)))
            del self._bans[key]
        win = self._windows.setdefault(key, _Window(start=now))
        if now - win.start >= cfg.window_seconds:
            win.start = now - (now - win.start) % cfg.window_seconds
            win.used = win.refused = 0
        win.used += weight
        if cfg.enabled and win.used > cfg.weight_per_window:
            win.refused += 1
            retry_after = max(1, int(win.start + cfg.window_seconds - now))
            if cfg.ban_after and win.refused > cfg.ban_after:
                self._bans[key] = now + cfg.ban_seconds
                raise Reject(Reason.IP_BANNED, until=int((now + cfg.ban_seconds) * 1000),
                             retry_after=int(cfg.ban_seconds))
            raise Reject(Reason.RATE_LIMITED, limit=cfg.weight_per_window,
                         interval=int(cfg.window_seconds), retry_after=retry_after, used=win.used)
        return win.used

    def window(self, exchange: str, caller: str) -> tuple[float, int]:
        """(start, weight used) of the caller's current window; (now, 0) before its first request."""
        win = self._windows.get((exchange, caller))
        return (win.start, win.used) if win else (self.clock(), 0)

    def reset(self, exchange: str | None = None) -> None:
        for store in (self._windows, self._bans):
            for key in [k for k in store if exchange is None or k[0] == exchange]:
                del store[key]
