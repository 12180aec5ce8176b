"""The one Definitions object: every job, sensor and resource of ngs_lake meets here.

Built lazily (`@definitions`): nothing is read when the module is imported. The document in
force is read once, when the code location loads, to build one events sensor per event queue:
the file, or when it is invalid the last valid document recorded in the catalogue bucket, so a
code server restarted while the file is broken runs the lake as before. Only when there is no
record to fall back on does the location load degraded, with `provision_lake` and the lake-wide
events sensor, whose every tick reports the document's problems until it is fixed.
"""

import os

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    definitions,
    in_process_executor,
)

from ngs_lake.config.model import LakeConfigError
from ngs_lake.config.names import event_shards
from ngs_lake.orchestration.capacity.assets import (
    capacity_report,
    capacity_report_job,
    capacity_report_schedule,
)
from ngs_lake.orchestration.fixity.assets import fixity_audit_job, fixity_audit_schedule
from ngs_lake.orchestration.inventory.assets import (
    inventory_catalog,
    inventory_catalog_job,
    inventory_catalog_schedule,
)
from ngs_lake.orchestration.inventory.sensors import build_inventory_reports_sensor
from ngs_lake.orchestration.lineage import lake_assets
from ngs_lake.orchestration.onboarding.jobs import provision_lake
from ngs_lake.orchestration.onboarding.sensors import lake_config_changed
from ngs_lake.orchestration.operations.sensors import build_alerts_sensor
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake.orchestration.sequencing.jobs import complete_run, refresh_manifest
from ngs_lake.orchestration.sequencing.sensors import build_storage_gateway_events_sensor

# The events sensor ticks every 5 s with a minimum interval of 4 s: Dagster's sensor daemon
# loops every 5 s (MIN_INTERVAL_LOOP_TIME, dagster/_daemon/sensor.py) and skips a sensor whose
# last tick began less than its interval ago, so an interval of exactly 5 s skips every loop in
# which the previous tick began a few milliseconds late, and ticks come 5 or 10 s apart
# (bench/latency.py: mean 6.5 to 10 s, against 5.0 s with 4).
EVENTS_SENSOR_INTERVAL_SECONDS = 4


def _sensor_interval_seconds(
    variable: str = "NGS_LAKE_SENSOR_INTERVAL_SECONDS",
    default: int = EVENTS_SENSOR_INTERVAL_SECONDS,
) -> int:
    """Sensor intervals are part of a definition, so these settings are read as they load."""
    return int(os.environ.get(variable, str(default)))


# In one process: two short steps, so a second interpreter per step would cost more than they do.
catalogue_refresh_job = define_asset_job(
    "catalogue_refresh_job",
    selection=AssetSelection.assets(inventory_catalog, capacity_report),
    executor_def=in_process_executor,
    description="The inventory catalogue from the newest reports, then the capacity report.",
)


def _resources() -> dict:
    return {"aws": AwsConnection(), "lake": LakeConfigResource()}


def _degraded_definitions(interval: int) -> Definitions:
    """What loads when the document is invalid: the job that provisions, and the lake-wide
    events sensor, whose ticks fail with the document's problems (each naming its entry)."""
    return Definitions(
        jobs=[provision_lake],
        sensors=[build_storage_gateway_events_sensor(interval)],
        resources=_resources(),
    )


@definitions
def defs() -> Definitions:
    interval = _sensor_interval_seconds()
    try:
        document = LakeConfigResource().load(AwsConnection())
    except LakeConfigError:
        return _degraded_definitions(interval)
    # One events sensor per event queue of the document: the lake-wide queue, or one per site
    # with `lake.event_queues: per-site`. A new site's sensor appears when the code location is
    # reloaded; its events wait in its queue until then.
    shards = event_shards(document)
    event_sensors = [
        build_storage_gateway_events_sensor(interval, shard=shard, reports_in_flight=n == 0)
        for n, shard in enumerate(shards)
    ]
    # Declarative automation (run_manifest is eager on sequencing_run), evaluated by a sensor
    # that is on from the start, so a completed run's manifest follows unprompted.
    lake_automation = AutomationConditionSensorDefinition(
        "lake_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
    )
    # Each new inventory report: the catalogue, then the capacity report downstream of it.
    inventory_sensor = build_inventory_reports_sensor(
        _sensor_interval_seconds("NGS_LAKE_INVENTORY_SENSOR_INTERVAL_SECONDS", 30),
        catalogue_refresh_job,
    )
    return Definitions(
        assets=lake_assets(document),
        jobs=[
            provision_lake,
            complete_run,
            refresh_manifest,
            inventory_catalog_job,
            capacity_report_job,
            catalogue_refresh_job,
            fixity_audit_job,
        ],
        schedules=[inventory_catalog_schedule, capacity_report_schedule, fixity_audit_schedule],
        sensors=[
            lake_config_changed,
            *event_sensors,
            inventory_sensor,
            lake_automation,
            build_alerts_sensor(max(1, round(document.alerts.evaluate_every))),
        ],
        resources=_resources(),
    )
