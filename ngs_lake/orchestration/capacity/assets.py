"""`capacity_report`: per site and gateway, how much cache buffer the lake has and what fits.

Downstream of the catalogue, the run ledger (observed rates) and the config document. Refreshed
with each new inventory catalogue (the inventory_reports_arrived sensor requests both), daily,
and whenever the config document changes. The UI shows the per-site figures as table metadata;
Dagster has no image metadata, so the charts (the trend of buffer days per site) are in the HTML
report, a page per site plus an index, linked by a URL that opens in a browser. Its check fails
when any gateway is under the buffer target.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
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

from ngs_lake.aws.clients import AwsClients
from ngs_lake.aws.storage_gateway import CacheBacklog, cache_backlog
from ngs_lake.capacity.figures import GatewayCapacity, gateway_capacity, recommendations
from ngs_lake.capacity.observed import observed_rates
from ngs_lake.capacity.publication import CapacityInputs, write_dashboard
from ngs_lake.capacity.report import GatewayRow, rate_cells
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.names import LakeNames
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.runs.ledger import RunLedger

RUN_LEDGER = AssetKey("run_ledger")


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


def _backlog(
    context: AssetExecutionContext, clients: AwsClients, document: LakeConfig
) -> dict[str, CacheBacklog]:
    """Each gateway's live figures under the document's id for it (by `arn`, else by name)."""
    try:
        return {
            b.gateway_id: b
            for b in cache_backlog(
                clients.storagegateway(),
                clients.target.storagegateway_endpoint_url,
                {g.id: g.arn for g in document.gateways},
            )
        }
    except Exception as exc:  # the report is still worth having without the live figures
        context.log.warning(f"gateway cache figures unavailable: {exc}")
        return {}


def _inputs(
    context: AssetExecutionContext, clients: AwsClients, document: LakeConfig, now: datetime
) -> CapacityInputs:
    rates = observed_rates(document, RunLedger(clients, LakeNames.of(document)), now)
    gateways = gateway_capacity(
        document, {r.sequencer_id: r.bytes_per_hour for r in rates if r.bytes_per_hour}
    )
    backlog = _backlog(context, clients, document)
    advice = recommendations(document, gateways)
    advice += [
        f"{r.sequencer_id} wrote {r.ratio:.0%} of its configured rate over the last 7 days"
        for r in rates
        if r.flagged and r.ratio is not None
    ]
    return CapacityInputs(
        gateways=gateways,
        backlog=backlog,
        rates=rates,
        gateway_rows=[GatewayRow(g, backlog.get(g.gateway_id)).cells() for g in gateways],
        rate_rows=[rate_cells(r) for r in rates],
        advice=advice,
    )


@asset(
    group_name="capacity",
    deps=["inventory_catalog", RUN_LEDGER, "lake_config"],
    description="Capacity per site (appliances and free slots, cache used, write rates, lowest "
    "buffer days against the target, headroom per platform) and per gateway; a daily history "
    "and an HTML dashboard with each site's trend.",
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
    document = lake.load(aws)
    clients = aws.clients(document.lake.region)
    now = datetime.now(UTC)
    inputs = _inputs(context, clients, document, now)
    dashboard = write_dashboard(clients.s3(), document.lake.catalog_bucket, document, now, inputs)
    gateways = inputs.gateways
    yield MaterializeResult(
        metadata={
            "sites": _table([s.cells() for s in dashboard.sites]),
            "report": MetadataValue.url(dashboard.index_url),
            "lowest buffer days": round(min(g.worst_buffer_days for g in gateways), 1),
            "days of history": max((len(p) for p in dashboard.trend.values()), default=0),
            "recommendations": MetadataValue.md("\n".join(f"- {a}" for a in inputs.advice)),
            "gateways": _table(inputs.gateway_rows),
            "observed rates": _table(inputs.rate_rows),
        }
    )
    yield _buffer_check(gateways)


def _buffer_check(gateways: list[GatewayCapacity]) -> AssetCheckResult:
    short = [g for g in gateways if not g.meets_target]
    return AssetCheckResult(
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
