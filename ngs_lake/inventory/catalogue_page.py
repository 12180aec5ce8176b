"""A page that opens in a browser for the catalogue bucket: an HTML index of the catalogue's
Parquet files, each linked, instead of S3's raw ListObjects XML.

Links are presigned S3 GET URLs, as the capacity report's are: one code path for AWS (a private
bucket, SSE-KMS, so SigV4) and the local moto server. SigV4 presigned URLs live at most 7 days
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from ngs_lake.config.units import format_size
from ngs_lake.inventory.refresh import CATALOG_PREFIX

INDEX_KEY = "reports/catalogue/index.html"
LINK_SECONDS = 7 * 24 * 3600  # SigV4's maximum


def _link(s3: Any, bucket: str, key: str) -> str:
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=LINK_SECONDS
    )


def catalogue_index(s3: Any, bucket: str, generated_at: datetime) -> str:
    """The page's HTML: every object under the catalogue prefix, with its size and a link."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{CATALOG_PREFIX}/"
    ):
        for item in page.get("Contents", []):
            key = item["Key"]
            rows.append(
                f"<tr><td><a href='{html.escape(_link(s3, bucket, key))}'>{html.escape(key)}</a>"
                f"</td><td>{format_size(item['Size'])}</td>"
                f"<td>{item['LastModified'].isoformat(timespec='seconds')}</td></tr>"
            )
    table = (
        "<table><tr><th>object</th><th>size</th><th>last modified</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>The catalogue is empty.</p>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ngs_lake catalogue</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}"
        "</style></head><body><h1>Inventory catalogue</h1>"
        f"<p>s3://{html.escape(bucket)}/{CATALOG_PREFIX}/, generated "
        f"{generated_at.isoformat(timespec='seconds')}. Each file is Parquet; query them with "
        "<code>ngs-lake catalog query</code> or DuckDB. Links last 7 days.</p>"
        f"{table}</body></html>"
    )


def publish_catalogue_index(s3: Any, bucket: str, generated_at: datetime) -> str:
    """Write the page into the catalogue bucket; its presigned URL, which opens in a browser."""
    s3.put_object(
        Bucket=bucket,
        Key=INDEX_KEY,
        Body=catalogue_index(s3, bucket, generated_at).encode(),
        ContentType="text/html; charset=utf-8",
    )
    return _link(s3, bucket, INDEX_KEY)
