"""The `fixity:` section of the lake document: how the at-rest audit samples and recomputes.

Each object's day in the rotation is fixed by a hash of its bucket and key (`fixity/audit.py`),
so the audit samples `1 / slots` of each bucket a day and reaches every object once every `slots`
days. `audit_fraction` sets the slots (ceil(1 / fraction)), which must fit in the
`audit_period_days` promised; `audit_bytes_per_day` instead spreads the objects over the whole
period and caps the bytes a bucket's daily sample may read (what it must leave is reported).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ngs_lake.config.values import ByteSize


class FixitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audit_period_days: int = Field(default=90, gt=0, le=3650)
    audit_fraction: float | None = Field(default=None, gt=0, le=1)
    audit_bytes_per_day: ByteSize | None = Field(default=None, gt=0)
    # streaming: read each sampled version back and hash it (GET requests; restores needed in
    # DEEP_ARCHIVE); batch_operations: an S3 Batch Operations compute-checksum job per bucket.
    recompute: Literal["streaming", "batch_operations"] = "streaming"

    @model_validator(mode="after")
    def _one_sample_rule_that_meets_the_period(self) -> FixitySettings:
        if self.audit_fraction is not None and self.audit_bytes_per_day is not None:
            raise ValueError(
                "set audit_fraction or audit_bytes_per_day, not both (one sample rule)"
            )
        if self.audit_fraction is not None and self.slots > self.audit_period_days:
            raise ValueError(
                f"audit_fraction {self.audit_fraction:g} a day reaches every object only "
                f"every {self.slots} days, longer than audit_period_days "
                f"({self.audit_period_days}); raise the fraction to at least "
                f"{1 / self.audit_period_days:.4g}"
            )
        return self

    @property
    def slots(self) -> int:
        """Days in one rotation: every object is audited once in this many days."""
        if self.audit_fraction is not None:
            return math.ceil(1 / self.audit_fraction - 1e-9)
        return self.audit_period_days
