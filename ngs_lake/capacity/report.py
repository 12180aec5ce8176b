"""The capacity report's per-gateway rows and chart (PNG), from figures already computed."""

from __future__ import annotations

import io
from dataclasses import dataclass

from ngs_lake.aws.storage_gateway import CacheBacklog
from ngs_lake.capacity.figures import HOURS_PER_DAY, GatewayCapacity
from ngs_lake.capacity.observed import ObservedRate
from ngs_lake.config.units import format_size


@dataclass(frozen=True)
class GatewayRow:
    capacity: GatewayCapacity
    backlog: CacheBacklog | None

    def cells(self) -> dict[str, str | float | int]:
        c, b = self.capacity, self.backlog
        fits = ", ".join(f"{p} {n}" for p, n in c.headroom.items() if n)
        # What an operator acts on first (as the site table), then the figures behind it.
        return {
            "site": c.site,
            "gateway": c.gateway_id,
            "buffer days": round(c.buffer_days, 1),
            "meets target": "yes" if c.meets_target else "NO",
            "headroom": fits or "none",
            "at observed rates": round(c.observed_buffer_days, 1),
            "target": f"{c.target_days:g}",
            "sequencers": f"{c.sequencers} / {c.max_sequencers}",
            "cache": format_size(c.cache_bytes, iec=True),
            "full-time write": f"{format_size(c.write_bytes_per_day / HOURS_PER_DAY)}/h",
            "dirty": "n/a" if b is None else format_size(b.dirty_bytes),
            "oldest dirty": "n/a" if b is None else _age(b.oldest_dirty_age_seconds),
        }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def rate_cells(rate: ObservedRate) -> dict[str, str | int]:
    observed = rate.bytes_per_hour
    return {
        "sequencer": rate.sequencer_id,
        "configured": f"{format_size(rate.configured_bytes_per_hour)}/h",
        "observed (7 d)": "idle" if observed is None else f"{format_size(observed)}/h",
        "active hours": f"{rate.active_hours:.1f}",
        "runs": rate.runs,
        "flag": "off by more than 20%" if rate.flagged else "",
    }


def buffer_chart(gateways: list[GatewayCapacity], target_days: float) -> bytes:
    """Buffer days per gateway as bars against the target line; bars short of it in red.

    matplotlib is imported here, not with the module: every Dagster run of this code location
    loads the definitions, and only this asset draws.
    """
    import matplotlib

    matplotlib.use("Agg")  # no screen: render to memory only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    names = [g.gateway_id for g in gateways]
    days = [g.worst_buffer_days for g in gateways]
    colours = ["#2e7d32" if g.meets_target else "#c62828" for g in gateways]
    ax.bar(names, days, color=colours)
    ax.axhline(target_days, color="#37474f", linestyle="--", linewidth=1.5)
    ax.text(len(names) - 0.5, target_days, f" {target_days:g}-day target", va="bottom", ha="right")
    ax.set_ylabel("days of full-time output held\n(configured or observed rate, if higher)")
    ax.set_title("Gateway cache buffer")
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
