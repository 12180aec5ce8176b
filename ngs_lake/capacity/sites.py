"""Capacity per site: what an operator asks first ("can this site take another sequencer, and
how long can it ride out an outage?"), from the per-gateway figures.

Pure: gateway figures, the gateways' live cache figures and the observed rates in; one row of
human-unit cells per site out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ngs_lake.aws.storage_gateway import CacheBacklog
from ngs_lake.capacity.figures import GatewayCapacity
from ngs_lake.capacity.observed import ObservedRate
from ngs_lake.config.model import LakeConfig
from ngs_lake.config.units import format_size


@dataclass(frozen=True)
class SiteCapacity:
    site: str
    gateways: list[GatewayCapacity]
    backlog: dict[str, CacheBacklog]  # gateway id -> live cache figures, when the gateway says
    rates: list[ObservedRate]  # the site's sequencers

    @property
    def lowest_buffer_days(self) -> float:
        return min((g.worst_buffer_days for g in self.gateways), default=0.0)

    @property
    def target_days(self) -> float:
        return self.gateways[0].target_days if self.gateways else 0.0

    @property
    def meets_target(self) -> bool:
        return all(g.meets_target for g in self.gateways)

    def cells(self) -> dict[str, str | float]:
        cache = sum(g.cache_bytes for g in self.gateways)
        live = [self.backlog[g.gateway_id] for g in self.gateways if g.gateway_id in self.backlog]
        used = sum(b.used_bytes for b in live)
        observed = [r.bytes_per_hour for r in self.rates if r.bytes_per_hour is not None]
        headroom: dict[str, int] = {}
        for g in self.gateways:
            for platform, n in g.headroom.items():
                headroom[platform] = headroom.get(platform, 0) + n
        # The columns an operator acts on first, so they fit a screen: site, lowest buffer days,
        # meets target, headroom; the figures behind them follow.
        return {
            "site": self.site,
            "lowest buffer days": round(self.lowest_buffer_days, 1),
            "meets target": "yes" if self.meets_target else "NO",
            "headroom": ", ".join(f"{p} {n}" for p, n in headroom.items() if n) or "none",
            "target days": self.target_days,
            "appliances": ", ".join(
                f"{g.gateway_id} ({g.max_sequencers - g.sequencers} slots free)"
                for g in self.gateways
            )
            or "none",
            "cache": format_size(cache, iec=True),
            "cache used": (
                f"{format_size(used, iec=True)} of {format_size(cache, iec=True)} "
                f"({used / cache:.0%})"
                if live and cache
                else "n/a"
            ),
            "full-time write, configured": f"{format_size(_configured_per_hour(self))}/h",
            "full-time write, observed (7 d)": (
                f"{format_size(sum(observed))}/h" if observed else "idle"
            ),
        }


def _configured_per_hour(site: SiteCapacity) -> float:
    return sum(r.configured_bytes_per_hour for r in site.rates)


def site_capacity(
    config: LakeConfig,
    gateways: list[GatewayCapacity],
    backlog: dict[str, CacheBacklog],
    rates: list[ObservedRate],
) -> list[SiteCapacity]:
    """One entry per site of the document, in its order; a site without a gateway included."""
    site_of = {s.id: config.gateway(s.gateway).site for s in config.sequencers}
    return [
        SiteCapacity(
            site.id,
            [g for g in gateways if g.site == site.id],
            backlog,
            [r for r in rates if site_of.get(r.sequencer_id) == site.id],
        )
        for site in config.sites
    ]
