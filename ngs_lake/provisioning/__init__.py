"""Plan and apply the lake's AWS resources from the config document, idempotently."""

from ngs_lake.provisioning.lake import plan_lake
from ngs_lake.provisioning.plan import Action, Change, Plan, ProvisioningRefused, apply_plan

__all__ = ["Action", "Change", "Plan", "ProvisioningRefused", "apply_plan", "plan_lake"]
