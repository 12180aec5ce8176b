"""The run core's clock, injected rather than read from the system, so that the deterministic
simulation (ngs_lake_tests/simulation) can run days of backlog in seconds under a virtual clock
and replay the same history from the same seed (ARCHITECTURE §11).

`now()` is wall time for what the ledger records and compares with event times; `monotonic()`
is for budgets inside one tick. Product code takes a `Clock` (default `SYSTEM_CLOCK`) and never
calls `datetime.now`, `time.time` or `time.monotonic` itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards: for budgets."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()
