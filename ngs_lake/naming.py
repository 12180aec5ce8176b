"""Names of every AWS resource the lake owns, derived from the config's prefix in one place.

Provisioning creates these and the pipeline finds them by the same names, so the two can never
disagree about which queue or table is the lake's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ngs_lake.config import LakeConfig


@dataclass(frozen=True)
class LakeNames:
    prefix: str

    @classmethod
    def of(cls, config: LakeConfig) -> LakeNames:
        return cls(config.lake.prefix)

    def bucket(self, sequencer_id: str) -> str:
        return f"{self.prefix}-{sequencer_id.lower()}"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}-gateway-events"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}-gateway-events-dlq"

    @property
    def events_rule(self) -> str:
        return f"{self.prefix}-gateway-events"

    @property
    def run_events_topic(self) -> str:
        return f"{self.prefix}-run-events.fifo"

    def consumer_queue(self, consumer_name: str) -> str:
        return f"{self.prefix}-{consumer_name}.fifo"

    @property
    def runs_table(self) -> str:
        return f"{self.prefix}-runs"

    @property
    def run_files_table(self) -> str:
        return f"{self.prefix}-run-files"

    @property
    def events_table(self) -> str:
        return f"{self.prefix}-events"

    @property
    def shares_table(self) -> str:
        return f"{self.prefix}-shares"

    @property
    def inventory_config_id(self) -> str:
        return f"{self.prefix}-inventory"

    @property
    def lifecycle_rule_id(self) -> str:
        return f"{self.prefix}-tiering"


def statement_id(*parts: str) -> str:
    """IAM Sids are alphanumeric: `("ConsumerRead", "lims")` -> `ConsumerReadLims`."""
    words = re.split(r"[^A-Za-z0-9]+", "-".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words if w)
