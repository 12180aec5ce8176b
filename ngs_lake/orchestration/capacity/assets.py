"""`capacity_report`: per site and gateway, how much cache buffer the lake has and what fits.

Materialised daily and whenever the config document changes (the `lake_config_changed` sensor
requests it beside provisioning). Its check fails when any gateway is under the buffer target.
"""

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    define_asset_job,
)

from ngs_lake.aws.storage_gateway import CacheBacklog, cache_backlog
from ngs_lake.capacity.figures import gateway_capacity, recommendations
from ngs_lake.capacity.observed import observed_rates
from ngs_lake.capacity.report import GatewayRow, buffer_chart, html_report, rate_cells
from ngs_lake.config.names import LakeNames
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.runs.ledger import RunLedger

REPORT_PREFIX = "reports/capacity"


def _table(rows: list[dict]) -> MetadataValue:
    columns = list(rows[0]) if rows else []
    return MetadataValue.table(
        [TableRecord({k: v for k, v in r.items()}) for r in rows],
        schema=TableSchema(
            [
                TableColumn(c, "float" if isinstance(rows[0][c], float) else "string")
                for c in columns
            ]
        ),
    )


@asset(
    group_name="capacity",
    description="Cache buffer days per gateway against the target, headroom per platform, "
    "gateway backlog, observed data rates and recommendations; PNG chart and HTML report.",
    check_specs=[
        AssetCheckSpec(
            "every_gateway_meets_buffer_target",
            asset="capacity_report",
            description="Every gateway's cache holds the target days of full-time output, at "
            "configured rates and at the last 7 days' observed rates.",
        )
    ],
)
def capacity_report(
    context: AssetExecutionContext, aws: AwsConnection, lake: LakeConfigResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    document = lake.load()
    clients = aws.clients(document.lake.region)
    now = datetime.now(UTC)
    rates = observed_rates(document, RunLedger(clients, LakeNames.of(document)), now)
    gateways = gateway_capacity(
        document, {r.sequencer_id: r.bytes_per_hour for r in rates if r.bytes_per_hour}
    )
    backlog: dict[str, CacheBacklog] = {}
    try:
        backlog = {
            b.gateway_id: b
            for b in cache_backlog(
                clients.storagegateway(), clients.target.storagegateway_endpoint_url
            )
        }
    except Exception as exc:  # the report is still worth having without the live figures
        context.log.warning(f"gateway cache figures unavailable: {exc}")
    gateway_rows = [GatewayRow(g, backlog.get(g.gateway_id)).cells() for g in gateways]
    rate_rows = [rate_cells(r) for r in rates]
    advice = recommendations(document, gateways)
    advice += [
        f"{r.sequencer_id} wrote {r.ratio:.0%} of its configured rate over the last 7 days"
        for r in rates
        if r.flagged and r.ratio is not None
    ]
    chart = base64.b64encode(buffer_chart(gateways, document.lake.cache_buffer_days)).decode()
    page = html_report(now, gateway_rows, rate_rows, advice, chart)
    s3 = clients.s3()
    key = f"{REPORT_PREFIX}/{now:%Y-%m-%d}.html"
    for target in (key, f"{REPORT_PREFIX}/latest.html"):
        s3.put_object(
            Bucket=document.lake.catalog_bucket,
            Key=target,
            Body=page.encode(),
            ContentType="text/html; charset=utf-8",
        )
    short = [g for g in gateways if not g.meets_target]
    yield MaterializeResult(
        metadata={
            "gateways": _table(gateway_rows),
            "observed rates": _table(rate_rows),
            "recommendations": MetadataValue.md("\n".join(f"- {a}" for a in advice)),
            "buffer days chart": MetadataValue.md(
                f"![buffer days per gateway](data:image/png;base64,{chart})"
            ),
            "report": MetadataValue.url(f"s3://{document.lake.catalog_bucket}/{key}"),
            "lowest buffer days": round(min(g.buffer_days for g in gateways), 1),
        }
    )
    yield AssetCheckResult(
        check_name="every_gateway_meets_buffer_target",
        passed=not short,
        description=(
            "every gateway meets the target"
            if not short
            else "; ".join(
                f"{g.gateway_id} holds {g.worst_buffer_days:.1f} of {g.target_days:g} days"
                for g in short
            )
        ),
    )


capacity_report_job = define_asset_job("capacity_report_job", selection=[capacity_report])

capacity_report_schedule = ScheduleDefinition(
    name="capacity_report_daily",
    job=capacity_report_job,
    cron_schedule="30 7 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
