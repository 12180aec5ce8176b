"""The Storage Gateway calls the pipeline makes, through boto3's own `storagegateway` client.

The same code reaches an S3 File Gateway on AWS and the software gateway locally (ARCHITECTURE
§4). Share tags change only when provisioning runs, so they are cached per share.
"""

from __future__ import annotations

import threading
from typing import Any


class StorageGatewayShares:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def notify_when_uploaded(self, share_arn: str) -> str:
        """Ask for one upload-complete event once all that is on the share now is in S3."""
        return self._client.notify_when_uploaded(FileShareARN=share_arn)["NotificationId"]

    def tags(self, share_arn: str) -> dict[str, str]:
        with self._lock:
            if share_arn not in self._tags:
                tags: dict[str, str] = {}
                marker = None
                while True:
                    kwargs: dict[str, Any] = {"ResourceARN": share_arn}
                    if marker:
                        kwargs["Marker"] = marker
                    page = self._client.list_tags_for_resource(**kwargs)
                    tags |= {t["Key"]: t["Value"] for t in page.get("Tags", [])}
                    marker = page.get("Marker")
                    if not marker:
                        break
                self._tags[share_arn] = tags
            return dict(self._tags[share_arn])
