"""WORM is one-way: the lake may lengthen or strengthen retention, never weaken it.

AWS itself refuses these changes on an Object Lock bucket; the local stand-in does not, so
provisioning refuses them here, before any call, on every target alike.
"""

from __future__ import annotations

from dataclasses import dataclass

_STRENGTH = {"GOVERNANCE": 0, "COMPLIANCE": 1}


@dataclass(frozen=True)
class WormSettings:
    versioning: str | None  # "Enabled", "Suspended" or None (never enabled)
    lock_mode: str | None
    retention_days: int | None


def worm_refusals(bucket: str, current: WormSettings, desired: WormSettings) -> list[str]:
    """Every way `desired` would weaken `current`, each as a sentence naming the bucket."""
    problems = []
    locked = current.lock_mode is not None
    if locked and current.versioning == "Enabled" and desired.versioning != "Enabled":
        problems.append(
            f"bucket {bucket}: refusing to set versioning to {desired.versioning or 'off'}; "
            "it holds Object Lock data, and AWS never allows suspending versioning there"
        )
    if (
        current.lock_mode is not None
        and desired.lock_mode is not None
        and _STRENGTH[desired.lock_mode] < _STRENGTH[current.lock_mode]
    ):
        problems.append(
            f"bucket {bucket}: refusing to move Object Lock from {current.lock_mode} to "
            f"{desired.lock_mode}; COMPLIANCE retention cannot be weakened by anyone"
        )
    if (
        current.retention_days is not None
        and desired.retention_days is not None
        and desired.retention_days < current.retention_days
    ):
        problems.append(
            f"bucket {bucket}: refusing to shorten default retention from "
            f"{current.retention_days} to {desired.retention_days} days; WORM retention only grows "
            f"(set lake.object_lock.retention_days to at least {current.retention_days})"
        )
    if locked and desired.lock_mode is None:
        problems.append(
            f"bucket {bucket}: refusing to remove the default Object Lock retention "
            f"({current.lock_mode}, {current.retention_days} days)"
        )
    return problems
