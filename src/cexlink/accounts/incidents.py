"""Exchange incidents: many accounts on one exchange failing the same way within minutes is the exchange's
trouble, not bad keys. While an incident lasts, such failures are shown as the incident and mark no key bad.

Kept in memory per API process (each process sees the failures it probes); the window is minutes, so a
restart loses little. A multi-process deployment shares it through the events table (later).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain.statuses import Status


@dataclass
class IncidentBoard:
    clock: Callable[[], float]
    threshold: int = 5
    window_s: float = 300.0
    _failures: dict[tuple[str, Status], deque[tuple[float, int]]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, exchange: str, status: Status) -> deque[tuple[float, int]]:
        q = self._failures[(exchange, status)]
        horizon = self.clock() - self.window_s
        while q and q[0][0] < horizon:
            q.popleft()
        return q

    def record(self, exchange: str, status: Status, account_id: int) -> bool:
        """Note one account's failure; True if it is part of an incident (so its key is not to blame)."""
        q = self._recent(exchange, status)
        q.append((self.clock(), account_id))
        return len({a for _, a in q}) >= self.threshold

    def accounts(self, exchange: str, status: Status) -> set[int]:
        """The accounts whose failures make up the incident (exchange, status)."""
        return {a for _, a in self._recent(exchange, status)}

    def clear(self, exchange: str, account_id: int) -> None:
        """The account works again: it no longer counts towards any incident."""
        for (ex, _), q in self._failures.items():
            if ex == exchange:
                kept = [item for item in q if item[1] != account_id]
                q.clear()
                q.extend(kept)

    def active(self) -> list[dict[str, Any]]:
        out = []
        for (exchange, status) in list(self._failures):
            accounts = {a for _, a in self._recent(exchange, status)}
            if len(accounts) >= self.threshold:
                out.append({"exchange": exchange, "status": status.value, "accounts": len(accounts),
                            "window_s": self.window_s})
        return out

    def describe(self, exchange: str, status: Status) -> str:
        n = len({a for _, a in self._recent(exchange, status)})
        return (f"{n} accounts on this exchange failed the same way ({status.value}) in the last "
                f"{int(self.window_s // 60)} minutes: an exchange incident, not your key")
