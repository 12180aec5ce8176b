"""The sizing rule, per gateway and per site: each gateway's cache must hold `cache_buffer_days`
(21) of every attached sequencer running full time, and an appliance takes at most
`max_sequencers_per_gateway` (10) sequencers.

Pure: the config document (and observed rates) in, figures and plain-English recommendations
out. The document is refused when a gateway is under target as configured, so the figures that
can fall short are those at observed rates: a sequencer writing faster than its configured rate
shortens its gateway's real buffer. What a platform adds to a gateway is its sequencers' highest
configured rate in the document, or the platform's nominal rate when the lake has none of it yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ngs_lake.config.model import LakeConfig, buffer_days
from ngs_lake.platforms import PLATFORM_IDS, PLATFORMS

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class GatewayCapacity:
    gateway_id: str
    site: str
    sequencers: int
    max_sequencers: int
    cache_bytes: int
    write_bytes_per_day: float  # every attached sequencer running full time
    buffer_days: float
    # As above with each sequencer at the higher of its configured and observed rates.
    observed_write_bytes_per_day: float
    observed_buffer_days: float
    target_days: float
    headroom: dict[str, int]  # platform id -> how many more fit (slots and buffer both)

    @property
    def worst_buffer_days(self) -> float:
        return min(self.buffer_days, self.observed_buffer_days)

    @property
    def meets_target(self) -> bool:
        return self.worst_buffer_days >= self.target_days

    @property
    def spare_bytes_per_day(self) -> float:
        """Full-time output the gateway could still take and keep the target."""
        worst = max(self.write_bytes_per_day, self.observed_write_bytes_per_day)
        return self.cache_bytes / self.target_days - worst


def platform_rates(config: LakeConfig) -> dict[str, float]:
    """Bytes per hour one more sequencer of each platform would add."""
    rates = {p: PLATFORMS[p].nominal_data_rate for p in PLATFORM_IDS}
    configured: dict[str, float] = {}
    for s in config.sequencers:
        configured[s.platform] = max(configured.get(s.platform, 0.0), s.data_rate)
    return rates | configured


def gateway_capacity(
    config: LakeConfig, observed: dict[str, float] | None = None
) -> list[GatewayCapacity]:
    """Per gateway; `observed` maps sequencer ids to their observed bytes per hour."""
    observed = observed or {}
    target = config.lake.cache_buffer_days
    limit = config.lake.max_sequencers_per_gateway
    rates = platform_rates(config)
    out = []
    for gateway in config.gateways:
        attached = config.sequencers_on(gateway.id)
        per_day = sum(s.data_rate for s in attached) * HOURS_PER_DAY
        observed_per_day = (
            sum(max(s.data_rate, observed.get(s.id, 0.0)) for s in attached) * HOURS_PER_DAY
        )
        spare = gateway.cache / target - observed_per_day
        slots = max(0, limit - len(attached))
        headroom = {
            p: max(0, min(slots, math.floor(spare / (rate * HOURS_PER_DAY))))
            for p, rate in rates.items()
        }
        out.append(
            GatewayCapacity(
                gateway_id=gateway.id,
                site=gateway.site,
                sequencers=len(attached),
                max_sequencers=limit,
                cache_bytes=gateway.cache,
                write_bytes_per_day=per_day,
                buffer_days=config.buffer_days(gateway.id),
                observed_write_bytes_per_day=observed_per_day,
                observed_buffer_days=buffer_days(gateway.cache, [observed_per_day / HOURS_PER_DAY]),
                target_days=target,
                headroom=headroom,
            )
        )
    return out


def recommendations(config: LakeConfig, gateways: list[GatewayCapacity]) -> list[str]:
    """What an operator should do, in words: gateways short of the target or full, and for each
    site the platforms it cannot take without another appliance."""
    out: list[str] = []
    for g in gateways:
        if not g.meets_target:
            short = g.observed_write_bytes_per_day * g.target_days - g.cache_bytes
            out.append(
                f"{g.gateway_id} ({g.site}) holds {g.observed_buffer_days:.1f} days at observed "
                f"rates, under the {g.target_days:g}-day target: grow its cache by "
                f"{short / 2**40:.1f} TiB or move a sequencer to another gateway"
            )
        if g.sequencers >= g.max_sequencers:
            out.append(f"{g.gateway_id} ({g.site}) is full: {g.sequencers} of {g.max_sequencers}")
    for site in config.sites:
        at_site = [g for g in gateways if g.site == site.id]
        blocked = [
            PLATFORMS[p].model for p in PLATFORM_IDS if not any(g.headroom[p] for g in at_site)
        ]
        if not at_site:
            out.append(f"site {site.id} has no gateway")
        elif blocked:
            what = f"a {blocked[0]}" if len(blocked) == 1 else "any of " + ", ".join(blocked)
            out.append(f"site {site.id} needs another appliance before adding {what}")
        else:
            out.append(f"site {site.id} can take one more of every platform")
    return out
