"""When to ask Dagster for a lifecycle run again, and when to stop asking.

A lifecycle run (announce, verify, manifest) that fails is requested again after a doubling
backoff, up to `lake.lifecycle_run_attempts` in all; then the run needs an operator
(NEEDS_ATTENTION, announced once). Pure: the orchestrator reports the attempts it has made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class AttemptStatus(StrEnum):
    IN_FLIGHT = "in flight"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Attempt:
    status: AttemptStatus
    ended_at: datetime | None = None  # for a finished attempt


class Verdict(StrEnum):
    REQUEST = "request"  # ask for attempt n + 1 now
    WAIT = "wait"  # one is in flight, or the backoff has not passed
    GIVE_UP = "give up"  # every attempt failed


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_seconds: float = 30.0

    def backoff(self, failures: int) -> timedelta:
        """After the n-th failure: backoff, then doubling (30 s, 60 s, 120 s, ...)."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(0, failures - 1))


def retry_verdict(attempts: Sequence[Attempt], policy: RetryPolicy, now: datetime) -> Verdict:
    if any(a.status == AttemptStatus.IN_FLIGHT for a in attempts):
        return Verdict.WAIT
    failed = [a for a in attempts if a.status == AttemptStatus.FAILED]
    if len(failed) >= policy.attempts:
        return Verdict.GIVE_UP
    if failed:
        last = max((a.ended_at for a in failed if a.ended_at), default=None)
        if last is not None and now - last < policy.backoff(len(failed)):
            return Verdict.WAIT
    return Verdict.REQUEST


# The orchestrator's record of lifecycle runs, by the tag value that names one piece of work.
AttemptLog = Callable[[str], Sequence[Attempt]]
