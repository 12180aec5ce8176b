"""One pass of the alerts: compare what holds now with the alert state, and send what changed
to the operations topic, each send claimed, published, then marked (alerts/state.py).

A pass first finishes sends a dead sender left claimed, then opens the new alerts, then
resolves the open alerts whose condition was judged this pass and no longer holds.

No send outlives its claim's lease, so no other sender takes over a send still in flight: each
claim is stamped with the time its own send starts (the pass's start plus the time the pass has
taken, by the injected clock), and each call is bounded: a Publish gets a 5 s read timeout and
one attempt, the alert state's writes 5 s and two, so a send lasts well under `CLAIM_LEASE`.
A send that fails ends the pass: SNS (or the table) is likely down, and every further send would
wait on it; the rest are deferred to the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from ngs_lake.alerts.conditions import Alert, AuditCheck, DocumentCheck
from ngs_lake.alerts.messages import STATUS_ALERT, STATUS_RESOLVED, publish_request
from ngs_lake.alerts.sources import Evaluation, evaluate
from ngs_lake.alerts.state import OPEN, OPENING, RESOLVED, RESOLVING, AlertState
from ngs_lake.aws.clients import AwsClients
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.runs.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

# A send is a claim, a Publish and a mark, about 35 ms on the local stand-in (bench/alerts.py):
# a burst (a gateway's whole backlog of runs stalling at once) is sent over several ticks, so
# each stays well inside a sensor tick's 60 s.
MAX_SENDS_PER_PASS = 300
# SNS answers a Publish in milliseconds when healthy; no retry inside the pass (the next tick
# is the retry), so a Publish costs at most connect + read, far under the claim's lease.
PUBLISH_READ_TIMEOUT_SECONDS = 5.0
PUBLISH_ATTEMPTS = 1
STATE_ATTEMPTS = 2  # the claim and mark: one retry for a throttled or dropped write

# (alert, "alert" | "resolved", resolved_at): one Publish
Publisher = Callable[[Alert, str, datetime | None], None]


def operations_publisher(clients: AwsClients, names: LakeNames) -> Publisher:
    """Publishes to `<prefix>-operations` (the topic provisioning creates from the document),
    through bounded clients: a slow or hung SNS costs one short timeout, never a retry storm."""
    sns = clients.bounded(PUBLISH_READ_TIMEOUT_SECONDS, PUBLISH_ATTEMPTS).sns()
    arn = f"arn:aws:sns:{clients.target.region}:{clients.account_id()}:{names.operations_topic}"

    def publish(alert: Alert, status: str, resolved_at: datetime | None) -> None:
        sns.publish(**publish_request(arn, alert, status, names.prefix, resolved_at))

    return publish


@dataclass
class DispatchReport:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # taken over from a sender that died
    still_open: int = 0
    failed: list[str] = field(default_factory=list)  # sends to try again next tick
    deferred: int = 0  # over this pass's budget: sent by the next tick

    @property
    def sends(self) -> int:
        return len(self.opened) + len(self.resolved) + len(self.resent) + len(self.failed)

    def summary(self) -> str:
        return (
            f"{len(self.opened)} alert(s) sent, {len(self.resolved)} resolved, "
            f"{len(self.resent)} re-sent, {self.still_open} open, {len(self.failed)} failed, "
            f"{self.deferred} deferred"
        )


def dispatch(
    state: AlertState,
    publish: Publisher,
    evaluation: Evaluation,
    now: datetime,
    clock: Clock = SYSTEM_CLOCK,
) -> DispatchReport:
    """`now`: when the pass started (and judged); each send is claimed at its own start."""
    report = DispatchReport()
    started = clock.monotonic()

    def send_starts() -> datetime:
        return now + timedelta(seconds=clock.monotonic() - started)

    records = {r.alert.key: r for r in state.records()}
    holding = {a.key: a for a in evaluation.alerts}
    for key, record in list(records.items()):
        if not record.pending:
            continue
        if report.failed:
            report.deferred += 1
            continue
        at = send_starts()
        token = state.take_over(record, at)
        if token is None:
            continue
        log.warning("alerts: sending %s again: its send was not marked", record.alert.alert_id)
        if _send(
            state, publish, record.alert, record.status, token, at, report, record.resolved_at
        ):
            report.resent.append(record.alert.alert_id)
            # Sent now, so this pass may resolve it (a resolution is already RESOLVED).
            done = OPEN if record.status == OPENING else RESOLVED
            records[key] = replace(record, status=done, claim=None, claimed_at=None)
    for key, alert in holding.items():
        record = records.get(key)
        if record is not None and record.status != RESOLVED:
            continue
        if report.failed or report.sends >= MAX_SENDS_PER_PASS:
            report.deferred += 1
            continue
        at = send_starts()
        token = state.claim_open(alert, at)
        if token is not None and _send(state, publish, alert, OPENING, token, at, report):
            report.opened.append(alert.alert_id)
    for key, record in records.items():
        if record.status != OPEN:
            continue
        unjudged = record.alert.condition not in evaluation.judged or key in evaluation.unjudged
        if key in holding or unjudged:
            report.still_open += 1
            continue
        if report.failed or report.sends >= MAX_SENDS_PER_PASS:
            report.deferred += 1
            continue
        at = send_starts()
        token = state.claim_resolve(record, at, now)
        if token is not None and _send(
            state, publish, record.alert, RESOLVING, token, at, report, now
        ):
            report.resolved.append(record.alert.alert_id)
    return report


def _send(
    state: AlertState,
    publish: Publisher,
    alert: Alert,
    claimed: str,
    token: str,
    now: datetime,
    report: DispatchReport,
    resolved_at: datetime | None = None,
) -> bool:
    """Publish the claimed send, then mark it. A Publish that fails may still have reached
    subscribers (a lost answer), so its claim is released for the next tick to send again, and
    the failure is reported for the sensor to fail its tick on."""
    status = STATUS_ALERT if claimed == OPENING else STATUS_RESOLVED
    try:
        publish(alert, status, resolved_at)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:  # refused, lost, garbled
        state.release(alert, token)
        report.failed.append(f"{alert.alert_id} ({status}): {exc}")
        return False
    state.mark_sent(alert, claimed, token, now)
    return True


def alert_pass(
    clients: AwsClients,
    config: LakeConfig,
    now: datetime,
    audits: list[AuditCheck] | None = None,
    document: DocumentCheck | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[Evaluation, DispatchReport]:
    """Judge every condition, then send what changed: what the alerts sensor does each tick.
    `clock` times each send within the pass (a virtual one in the simulation)."""
    names = LakeNames.of(config)
    state = AlertState(clients.bounded(PUBLISH_READ_TIMEOUT_SECONDS, STATE_ATTEMPTS), names)
    evaluation = evaluate(clients, config, state, now, audits, document)
    publisher = operations_publisher(clients, names)
    return evaluation, dispatch(state, publisher, evaluation, now, clock)
