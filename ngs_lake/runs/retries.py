"""When to ask Dagster for a lifecycle run again, and when to stop asking.

A lifecycle run (announce, verify, manifest) that fails is requested again after a doubling
backoff, up to `lake.lifecycle_run_attempts` in all; then the run needs an operator
(NEEDS_ATTENTION, announced once). One that succeeded is done: it is never requested again
(the work's key changes when the work does). Pure: the orchestrator reports the attempts it
has made.

Publishing is retried on a schedule of its own (`publish_verdict`): a Publish whose answer was
lost may have reached SNS, which drops a repeat of its deduplication id only within 5 minutes
(https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html), so every attempt the
lake makes on its own comes within `PUBLISH_DEADLINE` of the message's first failure.
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
    DONE = "done"  # an attempt succeeded: never requested again
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
    if any(a.status == AttemptStatus.SUCCEEDED for a in attempts):
        return Verdict.DONE
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


# SNS FIFO drops a repeated deduplication id for 5 minutes after it accepted the first. The
# lake decides no automatic attempt of a message later than PUBLISH_DEADLINE after its first
# failure, leaving a minute for the tick's own time (a Publish is sent up to
# tick_verify_seconds + tick_publish_seconds after its verdict, and a failure is stamped after
# the call's 5 s timeout, so the copy SNS may hold is a little older than its stamp); the
# backoff is capped so the last scheduled retry is due by PUBLISH_RETRY_WINDOW.
SNS_DEDUPLICATION_WINDOW = timedelta(minutes=5)
PUBLISH_DEADLINE = SNS_DEDUPLICATION_WINDOW - timedelta(minutes=1)
PUBLISH_RETRY_WINDOW = PUBLISH_DEADLINE - timedelta(seconds=30)


def publish_verdict(
    failures: int,
    first_failed: datetime | None,
    last_failed: datetime | None,
    policy: RetryPolicy,
    now: datetime,
) -> Verdict:
    """After `failures` failed publishes of one message in this epoch (`first_failed`: the
    message's first failure, in any epoch): the first retry is the next tick; the later ones
    back off as `policy` says (30 s, 60 s, ...), capped so that the last is due by
    PUBLISH_RETRY_WINDOW, so SNS drops any copy a lost answer hid. After `policy.attempts`
    failures, or past PUBLISH_DEADLINE, the lake stops: the run needs an operator, whose step
    starts the message afresh (a republish consumers may have to dedupe on `message_id`)."""
    if failures >= policy.attempts:
        return Verdict.GIVE_UP
    if first_failed is not None and now - first_failed > PUBLISH_DEADLINE:
        return Verdict.GIVE_UP
    if failures <= 1 or first_failed is None or last_failed is None:
        return Verdict.REQUEST
    share = (failures - 1) / (policy.attempts - 2)  # of the window, by this retry (the last: 1)
    due = min(
        last_failed + policy.backoff(failures - 1), first_failed + PUBLISH_RETRY_WINDOW * share
    )
    return Verdict.REQUEST if now >= due else Verdict.WAIT


# The orchestrator's record of lifecycle runs, by the tag value that names one piece of work.
AttemptLog = Callable[[str], Sequence[Attempt]]
