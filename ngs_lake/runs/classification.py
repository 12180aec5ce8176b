"""Which run an uploaded object belongs to, and what it means for that run.

Pure: the share's catalogue entry says which sequencer (and so which platform family) wrote the
object, and the family's folder rules say which run folder the key falls in. Whether a run is
*new* is the ledger's to say, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ngs_lake.platforms import family_of
from ngs_lake.runs.events import ObjectUpload


class ObjectKind(StrEnum):
    FILE = "file"
    MARKER = "marker"
    DIRECTORY = "directory"
    STRAY = "stray"


@dataclass(frozen=True)
class ShareEntry:
    """What the `shares` catalogue says about a share (written by provisioning)."""

    sequencer_id: str
    share_arn: str
    bucket: str
    platform: str
    site: str
    lab: str
    timezone: str
    gateway_id: str


@dataclass(frozen=True)
class Classified:
    kind: ObjectKind
    run_key: str | None  # `<sequencer id>/<run folder>`; None for stray objects
    run_folder: str | None
    relative_path: str  # within the run folder (or the whole key for strays)


def run_key_of(sequencer_id: str, run_folder: str) -> str:
    return f"{sequencer_id}/{run_folder}"


def classify_upload_event(event: ObjectUpload, share: ShareEntry) -> Classified:
    family = family_of(share.platform)
    location = family.locate(event.key)
    if location is None:
        return Classified(ObjectKind.STRAY, None, None, event.key)
    run_key = run_key_of(share.sequencer_id, location.run_folder)
    if event.is_directory:
        return Classified(
            ObjectKind.DIRECTORY, run_key, location.run_folder, location.relative_path
        )
    if family.is_completion_marker(share.platform, location):
        return Classified(ObjectKind.MARKER, run_key, location.run_folder, location.relative_path)
    return Classified(ObjectKind.FILE, run_key, location.run_folder, location.relative_path)
