"""The capacity dashboard as HTML in the catalogue bucket: an index of the sites, and one page per
site with its trend of buffer days, linked by URLs a browser opens.

Links are presigned S3 GET URLs, the one code path for AWS (a private bucket) and the local
moto server (which serves the same URL over plain HTTP). SigV4 presigned URLs live at most 7 days
and no longer than the credentials that signed them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html); the report
is rewritten daily, so the newest one's links are always fresh. Charts are embedded as data URIs,
so a page needs no second signed request.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ngs_lake.capacity.sites import SiteCapacity

REPORT_PREFIX = "reports/capacity"
LINK_SECONDS = 7 * 24 * 3600  # SigV4's maximum
_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.short{color:#c62828}"
)


@dataclass(frozen=True)
class Page:
    key: str
    body: str


def trend_chart(site: str, points: list[tuple[str, float]], target_days: float) -> bytes:
    """Lowest buffer days per day at one site, against the target line (PNG).

    matplotlib is imported here, not with the module: only this asset draws.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    days = [d for d, _ in points]
    values = [v for _, v in points]
    ax.plot(days, values, marker="o", color="#1565c0")
    ax.axhline(target_days, color="#c62828", linestyle="--", linewidth=1.2)
    ax.text(0, target_days, f" {target_days:g}-day target", va="bottom", color="#c62828")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("lowest buffer days")
    ax.set_title(f"{site}: lowest gateway buffer, per day")
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def html_table(rows: list[dict[str, Any]], links: dict[str, str] | None = None) -> str:
    """Rows as a table; a first cell found in `links` becomes a link."""
    if not rows:
        return "<p>none</p>"
    links = links or {}
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = ""
    for r in rows:
        cells = []
        for i, v in enumerate(r.values()):
            text = html.escape(str(v))
            if i == 0 and str(v) in links:
                text = f"<a href='{html.escape(links[str(v)])}'>{text}</a>"
            cells.append(f"<td>{text}</td>")
        body += "<tr>" + "".join(cells) + "</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _document(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def site_page(
    site: SiteCapacity,
    generated_at: datetime,
    chart_png_base64: str,
    points: int,
    gateway_rows: list[dict[str, Any]],
    rate_rows: list[dict[str, Any]],
) -> str:
    cells = site.cells()
    summary = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in cells.items()
    )
    return _document(
        f"ngs_lake capacity: {site.site}",
        f"<h1>Site {html.escape(site.site)}</h1>"
        f"<p>Generated {generated_at.isoformat(timespec='seconds')}</p>"
        f"<table>{summary}</table>"
        f"<h2>Buffer days, last {points} day{'' if points == 1 else 's'} recorded</h2>"
        f"<img alt='buffer days trend at {html.escape(site.site)}' "
        f"src='data:image/png;base64,{chart_png_base64}'>"
        f"<h2>Gateways</h2>{html_table(gateway_rows)}"
        f"<h2>Sequencers' data rates, last 7 days</h2>{html_table(rate_rows)}",
    )


def index_page(
    generated_at: datetime,
    sites: list[SiteCapacity],
    site_links: dict[str, str],
    advice: list[str],
    gateway_rows: list[dict[str, Any]],
    rate_rows: list[dict[str, Any]],
    gateway_chart_base64: str,
) -> str:
    items = "".join(f"<li>{html.escape(a)}</li>" for a in advice)
    return _document(
        "ngs_lake capacity",
        "<h1>Capacity report</h1>"
        f"<p>Generated {generated_at.isoformat(timespec='seconds')}. Each site's page has its "
        "trend of buffer days.</p>"
        f"<h2>Sites</h2>{html_table([s.cells() for s in sites], site_links)}"
        f"<h2>Recommendations</h2><ul>{items}</ul>"
        f"<img alt='buffer days per gateway' src='data:image/png;base64,{gateway_chart_base64}'>"
        f"<h2>Gateways</h2>{html_table(gateway_rows)}"
        f"<h2>Observed data rates, last 7 days</h2>{html_table(rate_rows)}",
    )


def browser_link(s3: Any, bucket: str, key: str) -> str:
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=LINK_SECONDS
    )


def publish(s3: Any, bucket: str, pages: list[Page]) -> None:
    for page in pages:
        s3.put_object(
            Bucket=bucket,
            Key=page.key,
            Body=page.body.encode(),
            ContentType="text/html; charset=utf-8",
        )
