"""The one Definitions object: every job, sensor and resource of ngs_lake meets here."""

from __future__ import annotations

from dagster import Definitions

from ngs_lake.onboarding.jobs import provision_lake
from ngs_lake.onboarding.sensors import lake_config_changed
from ngs_lake.resources import AwsConnection, LakeConfigResource

defs = Definitions(
    jobs=[provision_lake],
    sensors=[lake_config_changed],
    resources={"aws": AwsConnection(), "lake": LakeConfigResource()},
)
