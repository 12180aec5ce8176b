"""Top-level folders of a share that match no run folder of its platform: recorded, judged after a
settling window, and shown (`ngs-lake status`, the `folder_unrecognised` alert).

Without this, the objects of a folder the lake does not recognise (a HiSeq X run named
`151211_HX3_18448_B_HHH55CCXX`, a PacBio RS II run) are only `stray` rows in the events table,
and an operator cannot tell "not a run" from "a run we failed to recognise".

An object whose key lies in no run folder (ingest classifies it `stray`) makes its top-level
folder a candidate: one item per (sequencer, folder), written once per flush, keeping when it was
first seen. Nanopore writes `<experiment>/` and `<experiment>/<sample>/` before the run folder
under them, and events come in any order, so a candidate is judged only once SETTLING_WINDOW
has passed on a drained queue: a drain of its events queue that ended drained started at least
the window (and the gateway clock's tolerance) after the folder was first seen, so every event
of what reached S3 within the window has been taken in, however long the daemon was down or the
backlog (issue #34). One with a recognised run under it is a run's parent, not an unrecognised
folder: it is dropped then. Files of a recognised run are never stray, so they never come
here. Pure; the table is runs/unrecognised_ledger.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ngs_lake.platforms import family_of

SETTLING_WINDOW = timedelta(minutes=30)
# `first_seen` is the gateway's event time, at most this far ahead of the lake's clock (SigV4's
# skew, as for the watermarks: runs/watermarks.py CLOCK_TOLERANCE).
GATEWAY_CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class StrayObject:
    """An uploaded object that lies in no run folder of its share's platform."""

    sequencer_id: str
    platform: str
    key: str
    seen_at: datetime


@dataclass(frozen=True)
class UnrecognisedFolder:
    sequencer_id: str
    folder: str
    platform: str
    first_seen: datetime
    example_key: str
    reason: str

    @property
    def subject(self) -> str:
        return f"{self.sequencer_id}/{self.folder}"

    def settled(self, drained_from: datetime | None) -> bool:
        """`drained_from`: when the last drain of its events queue that ended drained started."""
        if drained_from is None:
            return False
        return drained_from - GATEWAY_CLOCK_TOLERANCE - self.first_seen >= SETTLING_WINDOW


def top_folder(key: str) -> str:
    """The share's top-level folder (or file) a key lies in."""
    return key.strip("/").split("/", 1)[0]


def why_unrecognised(platform: str, key: str) -> str:
    """One sentence naming the key, the platform and the layout its run folders have."""
    family = family_of(platform)
    return (
        f"{key!r} is in no {platform} run folder; its run folders are "
        f"{family.folder_layout} (regex {family.run_path_pattern})"
    )


def candidates(strays: Iterable[StrayObject]) -> list[UnrecognisedFolder]:
    """One candidate per (sequencer, top-level folder), from its earliest stray object (pure)."""
    found: dict[tuple[str, str], UnrecognisedFolder] = {}
    for stray in sorted(strays, key=lambda s: s.seen_at):
        folder = top_folder(stray.key)
        if not folder or (stray.sequencer_id, folder) in found:
            continue
        found[(stray.sequencer_id, folder)] = UnrecognisedFolder(
            stray.sequencer_id,
            folder,
            stray.platform,
            stray.seen_at,
            stray.key,
            why_unrecognised(stray.platform, stray.key),
        )
    return list(found.values())
