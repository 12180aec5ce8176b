"""The one Definitions object: every job, sensor and resource of ngs_lake meets here."""

import os

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
)

from ngs_lake.capacity.assets import (
    capacity_report,
    capacity_report_job,
    capacity_report_schedule,
)
from ngs_lake.inventory.assets import (
    inventory_catalog,
    inventory_catalog_job,
    inventory_catalog_schedule,
)
from ngs_lake.naming import event_shards
from ngs_lake.onboarding.jobs import provision_lake
from ngs_lake.onboarding.sensors import lake_config_changed
from ngs_lake.resources import AwsConnection, LakeConfigResource
from ngs_lake.sequencing.assets import (
    file_count_matches_geometry,
    no_object_missing,
    run_manifest,
    sequencing_run,
)
from ngs_lake.sequencing.jobs import announce_run, complete_run, refresh_manifest
from ngs_lake.sequencing.sensors import build_storage_gateway_events_sensor

# Sensor intervals are part of a definition, so this one setting is read when definitions load.
SENSOR_INTERVAL_SECONDS = int(os.environ.get("NGS_LAKE_SENSOR_INTERVAL_SECONDS", "5"))

# One events sensor per event queue of the document: the lake-wide queue, or one per site with
# `lake.event_queues: per-site`. Queues are read from the document as definitions load, so a
# new site's sensor appears when the code location is reloaded (its events wait in its queue).
EVENT_SENSORS = [
    build_storage_gateway_events_sensor(SENSOR_INTERVAL_SECONDS, shard=shard)
    for shard in event_shards(LakeConfigResource().load())
]

# Declarative automation (run_manifest is eager on sequencing_run) evaluated by a sensor that is
# on from the start, so a completed run's manifest follows without anyone switching it on.
lake_automation = AutomationConditionSensorDefinition(
    "lake_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)

defs = Definitions(
    assets=[sequencing_run, run_manifest, inventory_catalog, capacity_report],
    asset_checks=[file_count_matches_geometry, no_object_missing],
    jobs=[
        provision_lake,
        announce_run,
        complete_run,
        refresh_manifest,
        inventory_catalog_job,
        capacity_report_job,
    ],
    schedules=[inventory_catalog_schedule, capacity_report_schedule],
    sensors=[
        lake_config_changed,
        *EVENT_SENSORS,
        lake_automation,
    ],
    resources={"aws": AwsConnection(), "lake": LakeConfigResource()},
)
