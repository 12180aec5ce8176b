"""`operations_alerts`: the sensor that judges the alert conditions and sends what changed to
the operations topic (ngs_lake/alerts/).

The inventory audits are Dagster asset checks with a severity (ERROR, WARN), so they are read
here, from the instance's latest evaluation of each check, and handed to the alerts as plain
figures.
"""

from datetime import UTC, datetime

from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from ngs_lake.alerts.conditions import AuditCheck, DocumentCheck
from ngs_lake.alerts.dispatch import alert_pass
from ngs_lake.orchestration.inventory.assets import CHECKS
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource

ALERTS_SENSOR = "operations_alerts"
AUDITED_ASSET = AssetKey("inventory_catalog")


class AlertsNotSent(Exception):
    """The operations topic refused or lost a Publish; the claim is released for the next tick."""


def latest_audits(instance: DagsterInstance) -> list[AuditCheck]:
    """Each inventory check's latest evaluation; a check never evaluated, or only planned (its
    run still going), is not judged."""
    keys = [AssetCheckKey(AUDITED_ASSET, name) for name in CHECKS]
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    out = []
    for key, record in records.items():
        evaluation = record.event.asset_check_evaluation if record.event else None
        if evaluation is None:
            continue
        out.append(
            AuditCheck(
                key.name,
                evaluation.passed,
                evaluation.severity.value,
                evaluation.description or "",
                datetime.fromtimestamp(record.event.timestamp, UTC),
            )
        )
    return out


def build_alerts_sensor(minimum_interval_seconds: int = 60) -> SensorDefinition:
    @sensor(
        name=ALERTS_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Alerts the operations topic once per condition and subject (stalled, "
        "incomplete or abandoned runs, silent gateways, old parked events, low cache buffers, "
        "growing backlogs, failed inventory audits, an invalid config file), and again when "
        "each clears.",
    )
    def operations_alerts(
        context: SensorEvaluationContext, aws: AwsConnection, lake: LakeConfigResource
    ) -> SkipReason:
        in_force = lake.in_force(aws)
        document, now = in_force.document, datetime.now(UTC)
        clients = aws.clients(document.lake.region)
        checked = DocumentCheck(
            in_force.path, in_force.problems, in_force.sha256, in_force.saved_at or now
        )
        evaluation, report = alert_pass(
            clients, document, now, latest_audits(context.instance), checked
        )
        for problem in evaluation.unreadable:
            context.log.warning(f"not judged this tick: {problem}")
        if report.failed:  # a failed tick is what an operator sees in the UI; retried next tick
            raise AlertsNotSent(f"{report.summary()}: " + "; ".join(report.failed))
        return SkipReason(report.summary())

    return operations_alerts
