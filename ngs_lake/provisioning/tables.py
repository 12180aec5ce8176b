"""The ledger's DynamoDB tables (ARCHITECTURE §5), on-demand, with point-in-time recovery.

`runs` carries a GSI per question operators ask: runs by state, by sequencer and by site.
`run-log` holds what grows with a run's life (outbox entries, amendments), so run items stay
bounded: DynamoDB items stop at 400 KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ngs_lake.config.names import LakeNames
from ngs_lake.provisioning.context import ProvisioningContext, read_or_none
from ngs_lake.provisioning.plan import Action, Change, ProvisioningRefused
from ngs_lake.runs.run_log_migration import (
    MigrationConflict,
    legacy_runs,
    mark_owing,
    migrate_run,
)

EVENTS_TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[tuple[str, str, str], ...] = ()  # (index name, hash key, range key)
    ttl_attribute: str | None = None

    def key_schema(self) -> list[dict[str, str]]:
        schema = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.range_key:
            schema.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
        return schema


def table_specs(names: LakeNames, events_ttl_days: int | None) -> list[TableSpec]:
    return [
        TableSpec(
            names.runs_table,
            "run_key",
            indexes=(
                ("by-state", "state", "last_activity_at"),
                ("by-sequencer", "sequencer_id", "started_at"),
                ("by-site", "site", "started_at"),
                # Sparse: only runs that owe messages (runs.run_log.OWING_INDEX).
                ("owing", "owes_messages", "last_activity_at"),
            ),
        ),
        TableSpec(names.run_files_table, "run_key", "path"),
        # What grows with a run's life, an item each: `outbox#<sequence>`, `amendment#<n>`.
        TableSpec(names.run_log_table, "run_key", "entry"),
        # Each gateway's event-time watermark (runs/watermarks.py).
        TableSpec(names.gateways_table, "gateway_id"),
        TableSpec(
            names.events_table,
            "event_id",
            ttl_attribute=EVENTS_TTL_ATTRIBUTE if events_ttl_days else None,
        ),
        TableSpec(names.shares_table, "sequencer_id"),
        # Share folders that match no run folder of the platform (runs/unrecognised.py).
        TableSpec(names.unrecognised_folders_table, "sequencer_id", "folder"),
        # One item per (condition, subject) alerted; resolved ones expire (alerts/state.py).
        TableSpec(names.alerts_table, "condition", "subject", ttl_attribute="expires_at"),
    ]


def plan_table(ctx: ProvisioningContext, spec: TableSpec) -> list[Change]:
    ddb = ctx.clients.dynamodb
    table = (
        read_or_none(ddb().describe_table, {"ResourceNotFoundException"}, TableName=spec.name) or {}
    ).get("Table")
    if table is None:
        changes = [
            Change(
                "dynamodb-table",
                spec.name,
                Action.CREATE,
                "table not found",
                run=lambda: _create_table(ctx, spec),
            ),
            Change(
                "dynamodb-pitr",
                spec.name,
                Action.CREATE,
                "new table",
                run=lambda: _enable_pitr(ctx, spec),
            ),
        ]
        if spec.ttl_attribute:
            attribute = spec.ttl_attribute
            changes.append(
                Change(
                    "dynamodb-ttl",
                    spec.name,
                    Action.CREATE,
                    "new table",
                    run=lambda: _set_ttl(ctx, spec, True, attribute),
                )
            )
        return changes
    if table["KeySchema"] != spec.key_schema():
        raise ProvisioningRefused(
            [
                f"table {spec.name}: key schema is {table['KeySchema']}, ngs_lake expects "
                f"{spec.key_schema()}; a key schema cannot change in place, migrate the table"
            ]
        )
    present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    missing = [name for name, _, _ in spec.indexes if name not in present]
    changes = [
        Change("dynamodb-table", spec.name, Action.NOOP, "exists")
        if not missing
        else Change(
            "dynamodb-table",
            spec.name,
            Action.UPDATE,
            f"missing index {', '.join(missing)}",
            run=lambda: _add_indexes(ctx, spec, missing),
        )
    ]
    pitr = ddb().describe_continuous_backups(TableName=spec.name)["ContinuousBackupsDescription"]
    enabled = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    changes.append(
        Change("dynamodb-pitr", spec.name, Action.NOOP, "enabled")
        if enabled == "ENABLED"
        else Change(
            "dynamodb-pitr",
            spec.name,
            Action.UPDATE,
            "disabled",
            run=lambda: _enable_pitr(ctx, spec),
        )
    )
    return changes + _ttl_changes(ctx, spec)


def _ttl_changes(ctx: ProvisioningContext, spec: TableSpec) -> list[Change]:
    """TTL on an existing table: on when the config sets one, off when it sets none."""
    ttl = ctx.clients.dynamodb().describe_time_to_live(TableName=spec.name)
    description = ttl["TimeToLiveDescription"]
    ttl_on = description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if spec.ttl_attribute and not ttl_on:
        attribute = spec.ttl_attribute
        return [
            Change(
                "dynamodb-ttl",
                spec.name,
                Action.UPDATE,
                "TTL is off; the config sets one",
                run=lambda: _set_ttl(ctx, spec, True, attribute),
            )
        ]
    if not spec.ttl_attribute and ttl_on:
        attribute = description.get("AttributeName", EVENTS_TTL_ATTRIBUTE)
        return [
            Change(
                "dynamodb-ttl",
                spec.name,
                Action.UPDATE,
                "TTL is on; the config sets none",
                run=lambda: _set_ttl(ctx, spec, False, attribute),
            )
        ]
    if spec.ttl_attribute:
        return [Change("dynamodb-ttl", spec.name, Action.NOOP, "enabled")]
    return []


def create_table_request(spec: TableSpec) -> dict[str, Any]:
    """CreateTable's arguments for a table: its keys, its indexes' keys (all strings), on demand,
    every index projecting all attributes. The simulation creates its tables from this too."""
    attributes = {spec.hash_key, *([spec.range_key] if spec.range_key else [])}
    for _, hash_key, range_key in spec.indexes:
        attributes |= {hash_key, range_key}
    kwargs: dict[str, Any] = {
        "TableName": spec.name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": spec.key_schema(),
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "Tags": [{"Key": "managed-by", "Value": "ngs-lake"}],
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": h, "KeyType": "HASH"},
                    {"AttributeName": r, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, h, r in spec.indexes
        ]
    return kwargs


def _create_table(ctx: ProvisioningContext, spec: TableSpec) -> None:
    ddb = ctx.clients.dynamodb()
    ddb.create_table(**create_table_request(spec))
    ddb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 1})


def _enable_pitr(ctx: ProvisioningContext, spec: TableSpec) -> None:
    ctx.clients.dynamodb().update_continuous_backups(
        TableName=spec.name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )


def _set_ttl(ctx: ProvisioningContext, spec: TableSpec, enabled: bool, attribute: str) -> None:
    ctx.clients.dynamodb().update_time_to_live(
        TableName=spec.name,
        TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute},
    )


def _add_indexes(ctx: ProvisioningContext, spec: TableSpec, missing: list[str]) -> None:
    ddb = ctx.clients.dynamodb()
    for name, hash_key, range_key in spec.indexes:
        if name not in missing:
            continue
        ddb.update_table(
            TableName=spec.name,
            AttributeDefinitions=[
                {"AttributeName": hash_key, "AttributeType": "S"},
                {"AttributeName": range_key, "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": name,
                        "KeySchema": [
                            {"AttributeName": hash_key, "KeyType": "HASH"},
                            {"AttributeName": range_key, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )


def plan_run_log_migration(ctx: ProvisioningContext) -> list[Change]:
    """Runs recorded before the run log still hold their outbox and amendments in the run item:
    one change moves them (idempotent, so a repeated apply is harmless). Runs recorded before
    the `owing` index that owe messages get its marker, so the tick finds them at any age."""
    existing = read_or_none(
        ctx.clients.dynamodb().describe_table,
        {"ResourceNotFoundException"},
        TableName=ctx.names.runs_table,
    )
    if existing is None:
        return []
    legacy = legacy_runs(ctx.clients, ctx.names)
    changes = []
    if legacy.unmarked:

        def mark() -> None:
            for run_key in legacy.unmarked:
                mark_owing(ctx.clients, ctx.names, run_key)

        changes.append(
            Change(
                "owed-messages-marker",
                ctx.names.runs_table,
                Action.UPDATE,
                f"{len(legacy.unmarked)} run(s) owe messages outside the owing index; mark them",
                run=mark,
            )
        )
    if not legacy.to_migrate:
        return changes

    def migrate() -> None:
        moving = []  # runs the sensor kept moving: every other run is migrated first
        for run_key in legacy.to_migrate:
            try:
                migrate_run(ctx.clients, ctx.names, run_key)
            except MigrationConflict as exc:
                moving.append(str(exc))
        if moving:
            raise ProvisioningRefused(moving)

    return [
        *changes,
        Change(
            "run-log-migration",
            ctx.names.run_log_table,
            Action.UPDATE,
            f"{len(legacy.to_migrate)} run(s) hold their outbox in the run item; move it to "
            "the run log",
            run=migrate,
        ),
    ]
