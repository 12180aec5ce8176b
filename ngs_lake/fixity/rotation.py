"""Which objects a day's audit samples: a deterministic rotation by a hash of bucket and key.

Chosen over a cursor kept in DynamoDB: it needs no state, so a failed or skipped day, a restore
of the lake or two audits racing cannot lose or repeat anyone's turn; it is the same on every
machine (sha256, not Python's salted hash); and the proof that every object is reached is
arithmetic: an object's slot is `hash mod slots`, day d audits slot `d mod slots`, so each object
comes up exactly once in any `slots` consecutive days. New objects join the rotation at once.
Its cost: a day's sample is an even share of objects by count, not by bytes, which
`audit_bytes_per_day` caps (and reports what it had to leave for the next turn).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from ngs_lake.config.fixity_settings import FixitySettings

T = TypeVar("T")


def slot_of(bucket: str, key: str, slots: int) -> int:
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % slots


def due_on(day: date, bucket: str, key: str, slots: int) -> bool:
    return slot_of(bucket, key, slots) == day.toordinal() % slots


@dataclass
class Sample:
    chosen: list = None  # type: ignore[assignment]
    deferred: list = None  # type: ignore[assignment]
    deferred_bytes: int = 0


def sample_for(
    day: date,
    bucket: str,
    objects: Iterable[tuple[str, int, T]],
    settings: FixitySettings,
) -> Sample:
    """The `(key, size, item)` due on `day`, within `audit_bytes_per_day` when set."""
    due = [o for o in objects if due_on(day, bucket, o[0], settings.slots)]
    due.sort(key=lambda o: o[0])
    sample = Sample([], [], 0)
    budget = settings.audit_bytes_per_day
    spent = 0
    for _key, size, item in due:
        if budget is not None and sample.chosen and spent + size > budget:
            sample.deferred.append(item)
            sample.deferred_bytes += size
            continue
        sample.chosen.append(item)
        spent += size
    return sample
