"""Names of every AWS resource the lake owns, derived from the config's prefix in one place.

Provisioning creates these and the pipeline finds them by the same names, so the two can never
disagree about which queue or table is the lake's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ngs_lake.config.model import LakeConfig

LAKE_WIDE_SENSOR = "storage_gateway_events"


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

    def lake_wide_events(self, sites: tuple[str, ...] = ()) -> EventShard:
        return EventShard(None, sites, self.events_queue, self.dead_letter_queue, self.events_rule)

    def site_events(self, site: str) -> EventShard:
        """A site's own queue, DLQ and rule (`lake.event_queues: per-site`)."""
        queue = f"{self.prefix}-{site}-gateway-events"
        return EventShard(site, (site,), queue, f"{queue}-dlq", queue)

    @property
    def fixity_evidence_bucket(self) -> str:
        """Object Lock (COMPLIANCE) bucket of fixity evidence and Batch job reports."""
        return f"{self.prefix}-fixity-evidence"

    @property
    def fixity_batch_role(self) -> str:
        """The role S3 Batch Operations assumes to compute checksums at rest."""
        return f"{self.prefix}-fixity-batch"

    def fixity_batch_role_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:role/{self.fixity_batch_role}"

    @property
    def run_events_topic(self) -> str:
        return f"{self.prefix}-run-events.fifo"

    @property
    def operations_topic(self) -> str:
        """Alerts for operators: a standard topic, as email and HTTPS endpoints subscribe to it."""
        return f"{self.prefix}-operations"

    @property
    def alerts_table(self) -> str:
        return f"{self.prefix}-alerts"

    def consumer_queue(self, consumer_name: str) -> str:
        return f"{self.prefix}-{consumer_name}.fifo"

    @property
    def runs_table(self) -> str:
        return f"{self.prefix}-runs"

    @property
    def run_files_table(self) -> str:
        return f"{self.prefix}-run-files"

    @property
    def run_log_table(self) -> str:
        return f"{self.prefix}-run-log"

    @property
    def gateways_table(self) -> str:
        return f"{self.prefix}-gateways"

    @property
    def events_table(self) -> str:
        return f"{self.prefix}-events"

    @property
    def shares_table(self) -> str:
        return f"{self.prefix}-shares"

    @property
    def unrecognised_folders_table(self) -> str:
        """Top-level share folders that match no run folder (runs/unrecognised.py)."""
        return f"{self.prefix}-unrecognised-folders"

    @property
    def inventory_config_id(self) -> str:
        return f"{self.prefix}-inventory"

    @property
    def lifecycle_rule_id(self) -> str:
        return f"{self.prefix}-tiering"


@dataclass(frozen=True)
class EventShard:
    """One gateway-events queue with its dead-letter queue and the rule that feeds it, and the
    sites whose gateways' events it carries (`site` None: the lake-wide queue, every site)."""

    site: str | None
    sites: tuple[str, ...]
    queue: str
    dead_letter_queue: str
    rule: str

    @property
    def sensor_name(self) -> str:
        """Dagster names allow letters, digits and underscores only."""
        if self.site is None:
            return LAKE_WIDE_SENSOR
        return f"{LAKE_WIDE_SENSOR}_" + re.sub(r"[^A-Za-z0-9]", "_", self.site)

    def sequencer_ids(self, config: LakeConfig) -> frozenset[str]:
        return frozenset(s.id for s in config.sequencers if config.site_of(s).id in self.sites)


def event_shards(config: LakeConfig) -> tuple[EventShard, ...]:
    """The lake's event queues: one for the whole lake, or one per site (`lake.event_queues`)."""
    names = LakeNames.of(config)
    every_site = tuple(s.id for s in config.sites)
    if config.lake.event_queues == "one":
        return (names.lake_wide_events(every_site),)
    return tuple(names.site_events(site) for site in every_site)


def statement_id(*parts: str) -> str:
    """IAM Sids are alphanumeric: `("ConsumerRead", "lims")` -> `ConsumerReadLims`."""
    words = re.split(r"[^A-Za-z0-9]+", "-".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words if w)
