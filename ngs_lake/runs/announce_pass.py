"""The tick's announcement pass: every run's recorded, unpublished messages, published by the
sensor that observed the transitions, through the outbox (record, publish, mark).

It is also the reconcile pass after a crash: whatever a killed tick left recorded but not
published is simply still pending. It is bounded twice, so a hung SNS never holds a tick near
Dagster's sensor timeout: each Publish has a 5 s read timeout and no retry inside the tick
(`AwsClients.bounded`), and no run is started once the pass's time budget is spent; what is
left waits for the next tick. Order is never broken: `publish_pending` stops at a run's first
failed message, so a later message is never published before an earlier one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import jsonschema
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from ngs_lake.runs.announcements import Announced, RunAnnouncer, SendWindowPassed
from ngs_lake.runs.model import Run

log = logging.getLogger(__name__)

PUBLISH_READ_TIMEOUT_SECONDS = 5.0  # SNS answers a Publish in milliseconds when healthy
PUBLISH_ATTEMPTS = 1  # no retry inside the tick: the next tick, 5 s later, is the retry


@dataclass(frozen=True)
class AnnounceWork:
    """One run whose messages are due, under the key its failed attempts are counted by."""

    run: Run
    key: str


@dataclass
class AnnounceReport:
    published: list[Announced] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # run keys whose publish failed
    deferred: list[str] = field(default_factory=list)  # left for the next tick: budget spent


def announce_due(
    announcer: RunAnnouncer,
    work: Sequence[AnnounceWork],
    budget_seconds: float,
) -> AnnounceReport:
    """Publish each run's pending messages, oldest first, until the budget is spent.

    A failed call to SNS ends the pass (the endpoint is likely down; every run would wait on
    it); a message that fails its schema fails only its run. Either failure is counted in the
    ledger, so a run that can never be announced ends in NEEDS_ATTENTION (runs.tick).
    """
    report = AnnounceReport()
    clock = announcer.ledger.clock
    deadline = clock.monotonic() + budget_seconds
    for index, item in enumerate(work):
        if clock.monotonic() >= deadline:
            report.deferred += [w.run.run_key for w in work[index:]]
            break
        try:
            report.published += announcer.publish_pending(item.run.run_key)
        except SendWindowPassed as exc:  # a crash or a lost answer hid a send's outcome
            log.error("%s: %s", item.run.run_key, exc)
            _count_failure(announcer, item, report, exc)
        except jsonschema.ValidationError as exc:
            log.error("%s: a message does not match the schema: %s", item.run.run_key, exc)
            _count_failure(announcer, item, report)
        except (BotoCoreError, ClientError, ResponseParserError) as exc:  # no answer, or none read
            log.warning("%s: publish failed, the next tick tries again: %s", item.run.run_key, exc)
            _count_failure(announcer, item, report)
            report.deferred += [w.run.run_key for w in work[index + 1 :]]
            break
    return report


def _count_failure(
    announcer: RunAnnouncer,
    item: AnnounceWork,
    report: AnnounceReport,
    passed: SendWindowPassed | None = None,
) -> None:
    """Counted in the ledger; a send window passed counts from the message's first send, so the
    next tick's verdict gives the run to an operator (runs.retries.publish_verdict)."""
    report.failed.append(item.run.run_key)
    try:
        if passed is None:
            announcer.ledger.record_publish_failure(item.run, item.key)
        else:
            announcer.ledger.record_publish_failure(
                item.run, item.key, first_at=passed.first_sent, sequence=passed.sequence
            )
    except (BotoCoreError, ClientError) as exc:  # the ledger is down too: uncounted this time
        log.warning("%s: cannot count the failed publish: %s", item.run.run_key, exc)
