"""The one test clock: time stands still until the test moves it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z: a fixed epoch so expected values can be written down


class Clock:
    """Epoch seconds (float) when called, for anything that takes ``clock: Callable[[], float]``; ``ms()`` and
    ``datetime()`` are the same instant for code that keeps milliseconds or datetimes."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def ms(self) -> int:
        return int(self.t * 1000)

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def behind_ms(self) -> int:
        """How far this clock is behind the real one: ccxt's ``options['timeDifference']``, so a client on real
        time signs requests as of this clock's now."""
        return int((time.time() - self.t) * 1000)
