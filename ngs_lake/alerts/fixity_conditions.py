"""`fixity_mismatch`: an object whose bytes at rest are not the ones its run's fixity record
holds (a recomputed checksum that differs, a current version other than the recorded one, or a
version that could not be read). Judged from the audit's open mismatches: one alert per key,
open until an audit of that key passes again (fixity/evidence.py), so it is raised once and
resolved, not re-raised each day the rotation passes the key by."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ngs_lake.alerts.conditions import CRITICAL, Alert

FIXITY_MISMATCH = "fixity_mismatch"


def fixity_findings(open_mismatches: Mapping[str, Mapping[str, str]]) -> list[Alert]:
    return [
        Alert(
            FIXITY_MISMATCH,
            subject,
            datetime.fromisoformat(found["began_at"]),
            CRITICAL,
            f"fixity mismatch: {found['summary']}",
            f"ngs-lake fixity show {found['run_key']}",
        )
        for subject, found in sorted(open_mismatches.items())
    ]
