"""The gateway's moving parts: watch shares, upload settled files, announce uploads, and answer
NotifyWhenUploaded once everything written before the request is in S3.

Three supervised loops share nothing but the durable state: a scanner (watchdog events plus a
periodic rescan as the safety net), an upload dispatcher feeding a thread pool, and an announcer
that sends upload events in batches, completes notifications and retires drained shares. A pass
that fails is retried with backoff (supervision.py); nothing is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from watchdog.observers import Observer

from ngs_lake.aws.clients import AwsClients
from ngs_lake.gateway.cache_figures import cache_figures
from ngs_lake.gateway.registry import ShareRegistry
from ngs_lake.gateway.scanner import TouchedPaths, scan_share, stat_entry
from ngs_lake.gateway.shares import Share, served_shares
from ngs_lake.gateway.state import FileRecord, UploadState
from ngs_lake.gateway.supervision import SupervisedLoop
from ngs_lake.gateway.uploader import sha256_base64, upload_file, upload_folder
from ngs_lake.runs.events import (
    event_source,
    object_upload_entry,
    refresh_cache_entry,
    upload_notification_entry,
)

log = logging.getLogger(__name__)

PUT_EVENTS_BATCH = 10  # EventBridge's limit per PutEvents call
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class GatewayTuning:
    upload_workers: int = 8
    rescan_seconds: float = 2.0
    poll_seconds: float = 0.2

    @classmethod
    def for_target(cls, is_local: bool, upload_workers: int | None = None) -> GatewayTuning:
        """S3 takes many uploads at once; the local stand-in is one Python process, where more
        than 4 concurrent uploads add lock contention, not throughput (bench/gateway_upload.py:
        moto spent 5.8 to 6.2 s of CPU on the run with 4, 7.5 to 10.8 s with 8)."""
        return cls(upload_workers=upload_workers or (LOCAL_UPLOAD_WORKERS if is_local else 8))


LOCAL_UPLOAD_WORKERS = 4


RECOVERY_GRACE_SECONDS = 2.0


class GatewayService:
    def __init__(
        self,
        registry: ShareRegistry,
        state: UploadState,
        clients: AwsClients,
        share_root: Path,
        tuning: GatewayTuning | None = None,
    ) -> None:
        self.registry = registry
        self.state = state
        self.clients = clients
        self.share_root = share_root
        self.tuning = tuning or GatewayTuning()
        self.source = event_source(clients.target.is_local)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.tuning.upload_workers, thread_name_prefix="upload")
        self._in_progress: set[tuple[str, str]] = set()
        self._in_progress_lock = threading.Lock()
        self._worker_done = threading.Event()
        self._touched: set[tuple[str, str]] = set()
        self._touched_lock = threading.Lock()
        self._refused_logged: set[tuple[str, str]] = set()
        self._observer = Observer()
        self._watched: set[str] = set()
        # Held by a scan pass and by retiring a share, so no file is recorded for a share
        # between the check that its backlog is empty and its removal.
        self._scan_lock = threading.Lock()
        self._next_rescan = 0.0
        self._refused_shares: set[str] = set()
        self.loops = [
            SupervisedLoop("scan", self._scan_pass, self._stop),
            SupervisedLoop("upload", self._upload_pass, self._stop),
            SupervisedLoop(
                "announce", self._announce_pass, self._stop, quiet=(BotoCoreError, ClientError)
            ),
        ]

    # Shares, from the registry (shares created while running are picked up on the next loop)

    def shares(self) -> list[Share]:
        return served_shares(self.registry, self.share_root, self._refused_shares)

    def share(self, share_arn: str) -> Share | None:
        return next((s for s in self.shares() if s.arn == share_arn), None)

    # Lifecycle

    def start(self) -> None:
        self.recover_in_flight()
        self._observer.start()
        for loop in self.loops:
            loop.start()

    def stop(self) -> None:
        self._stop.set()
        self._observer.stop()
        for loop in self.loops:
            loop.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def health(self) -> dict[str, Any]:
        """Each loop's state, last success and last error; `ok` only while none is down."""
        loops = [loop.snapshot() for loop in self.loops]
        return {
            "status": "down" if any(h.down for h in loops) else "ok",
            "loops": {h.name: h.as_dict() for h in loops},
        }

    def recover_in_flight(self) -> None:
        """Uploads cut short by a crash: keep the ones S3 did store, so none is sent twice.

        A PUT whose sender died may still be landing when the gateway is back (the server
        finishes a request whose body it has), so what S3 lacks is looked for once more after
        a short grace before it is uploaded again.
        """
        shares = {s.arn: s for s in self.shares()}
        pending = self.state.in_flight()
        for attempt in range(2):
            if attempt and pending:
                time.sleep(RECOVERY_GRACE_SECONDS)
            pending = [r for r in pending if not self._already_in_s3(shares.get(r.share_arn), r)]
        for record in pending:
            self.state.clear_in_flight(record)

    def _already_in_s3(self, share: Share | None, record: FileRecord) -> bool:
        path = share.root / record.path if share else None
        try:
            if share is None or path is None or record.is_dir or not path.is_file():
                return False
            head = self.clients.s3().head_object(
                Bucket=share.bucket, Key=share.prefix + record.path, ChecksumMode="ENABLED"
            )
        except (ClientError, BotoCoreError, OSError):
            return False
        if head["ContentLength"] != record.size or head.get("ChecksumSHA256") != sha256_base64(
            path
        ):
            return False
        self.state.mark_uploaded(record, head.get("VersionId"), head["ChecksumSHA256"])
        log.info("recovered %s: already in S3", record.path)
        return True

    # Scanning

    def _scan_pass(self) -> float:
        """Rescan every share that is due, then the paths watchdog saw; a share whose folder
        cannot be read fails the pass, after the others are scanned."""
        failures: dict[str, OSError] = {}
        with self._scan_lock:
            shares = [s for s in self.shares() if not s.deleting]
            self._watch(shares)
            now = time.monotonic()
            if now >= self._next_rescan:
                for share in shares:
                    try:
                        self.rescan(share)
                    except OSError as exc:
                        failures[share.name] = exc
                if not failures:  # a failed rescan is retried when the loop restarts
                    self._next_rescan = now + self.tuning.rescan_seconds
            self._observe_touched({s.arn: s for s in shares})
        if failures:
            named = "; ".join(f"{n}: {type(e).__name__}: {e}" for n, e in failures.items())
            raise ExceptionGroup(f"share folders not scanned ({named})", list(failures.values()))
        return self.tuning.poll_seconds

    def rescan(self, share: Share) -> None:
        result = scan_share(share.root)
        for path, reason in result.refused:
            if (share.arn, path) not in self._refused_logged:
                self._refused_logged.add((share.arn, path))
                log.warning("refused %s in share %s: %s", path, share.name, reason)
        self.state.observe(share.arn, result.entries)

    def _watch(self, shares: list[Share]) -> None:
        for share in shares:
            if share.arn in self._watched or not share.root.is_dir():
                continue
            handler = TouchedPaths(share.arn, share.root, self.touch)
            self._observer.schedule(handler, str(share.root), recursive=True)
            self._watched.add(share.arn)

    def touch(self, share_arn: str, relative: str) -> None:
        with self._touched_lock:
            self._touched.add((share_arn, relative))

    def _observe_touched(self, shares: dict[str, Share]) -> None:
        with self._touched_lock:
            touched, self._touched = self._touched, set()
        by_share: dict[str, list] = {}
        for share_arn, relative in touched:
            share = shares.get(share_arn)
            entry = stat_entry(share.root, relative) if share else None
            if entry is not None:
                by_share.setdefault(share_arn, []).append(entry)
        for share_arn, entries in by_share.items():
            self.state.observe(share_arn, entries)

    # Uploading

    def _upload_pass(self) -> float:
        """Keep the pool full: refill whenever a worker finishes, not only on the poll tick."""
        queue_depth = self.tuning.upload_workers * 2
        now = time.time()
        for share in self.shares():
            with self._in_progress_lock:
                room = queue_depth - len(self._in_progress)
            if room <= 0:
                break
            due = self.state.due(share.arn, now - share.settling_seconds, now, room * 2)
            for record in due:
                key = (record.share_arn, record.path)
                with self._in_progress_lock:
                    if key in self._in_progress or len(self._in_progress) >= queue_depth:
                        continue
                    self._in_progress.add(key)
                self._pool.submit(self._upload, share, record)
        self._worker_done.wait(self.tuning.poll_seconds)
        self._worker_done.clear()
        return 0.0

    def _upload(self, share: Share, record: FileRecord) -> None:
        key = share.prefix + record.path
        try:
            s3 = self.clients.s3()
            if record.is_dir:
                if not self.state.mark_in_flight(record):
                    return  # uploaded meanwhile by a listing taken a moment earlier
                uploaded = upload_folder(s3, share.bucket, key, share.encryption)
            else:
                before = stat_entry(share.root, record.path)
                if before is None:
                    self.state.forget(record)
                    return
                if (before[2], before[3]) != (record.size, record.mtime_ns):
                    self.state.observe(share.arn, [before])
                    return
                if not self.state.mark_in_flight(record):
                    return  # uploaded meanwhile by a listing taken a moment earlier
                uploaded = upload_file(
                    s3, share.root / record.path, share.bucket, key, share.encryption
                )
                after = stat_entry(share.root, record.path)
                if after != before:  # it changed while uploading: upload it again once settled
                    if after is not None:
                        self.state.observe(share.arn, [after])
                    self.state.clear_in_flight(record)
                    return
            self.state.mark_uploaded(record, uploaded.version_id, uploaded.checksum)
        except (BotoCoreError, ClientError, OSError) as exc:
            retry = min(MAX_BACKOFF_SECONDS, 0.5 * 2**record.attempts)
            log.warning("upload of %s failed (%s); retrying in %.1f s", key, exc, retry)
            self.state.mark_failed(record, retry)
        finally:
            with self._in_progress_lock:
                self._in_progress.discard((record.share_arn, record.path))
            self._worker_done.set()

    # Announcing

    def _announce_pass(self) -> float:
        """A failed PutEvents fails the pass: the supervisor backs off and /health shows it."""
        sent = self.announce_uploads()
        self.complete_notifications()
        self.retire_drained_shares()
        return 0.0 if sent else self.tuning.poll_seconds

    def announce_uploads(self) -> int:
        shares = {s.arn: s for s in self.shares()}
        records = self.state.pending_events(PUT_EVENTS_BATCH * 10, list(shares))
        if not records:
            return 0
        events = self.clients.events()
        sent = 0
        for start in range(0, len(records), PUT_EVENTS_BATCH):
            batch = records[start : start + PUT_EVENTS_BATCH]
            entries = [self._upload_entry(shares[r.share_arn], r) for r in batch]
            answer = events.put_events(Entries=entries)
            accepted = [r for r, e in zip(batch, answer["Entries"], strict=True) if "EventId" in e]
            self.state.events_sent(accepted)
            sent += len(accepted)
            if len(accepted) < len(batch):
                raise ClientError(
                    {"Error": {"Code": "PutEventsPartialFailure", "Message": str(answer)}},
                    "PutEvents",
                )
        return sent

    def _upload_entry(self, share: Share, record: FileRecord) -> dict[str, Any]:
        return object_upload_entry(
            source=self.source,
            share_arn=share.arn,
            gateway_arn=share.gateway_arn,
            bucket=share.bucket,
            prefix=share.prefix,
            key=share.prefix + record.path,
            size=record.size,
            modified_at=record.mtime_ns / 1e9 if not record.is_dir else record.changed_at,
            uploaded_at=record.uploaded_at or time.time(),
        )

    def complete_notifications(self) -> None:
        for pending in self.state.pending_notifications():
            if self.state.outstanding_before(pending.share_arn, pending.watermark):
                continue
            share = self.share(pending.share_arn)
            if share is None:
                continue
            now = time.time()
            entry = upload_notification_entry(
                source=self.source,
                share_arn=share.arn,
                gateway_arn=share.gateway_arn,
                notification_id=pending.notification_id,
                requested_at=pending.requested_at,
                completed_at=now,
            )
            answer = self.clients.events().put_events(Entries=[entry])
            if answer.get("FailedEntryCount"):
                raise ClientError(
                    {"Error": {"Code": "PutEventsPartialFailure", "Message": str(answer)}},
                    "PutEvents",
                )
            self.state.complete_notification(pending.notification_id, now)

    # Retiring shares

    def retire_share(self, share_arn: str, force: bool) -> bool:
        """DeleteFileShare: gone at once if forced or if nothing of the share waits to be
        uploaded or announced (True); otherwise DELETING until the announce loop has drained it."""
        with self._scan_lock:
            record = self.registry.share(share_arn)
            if record is None:
                return True
            if force:
                self.state.forget_share(share_arn)
            elif self.state.backlog(share_arn):
                if record.info.get("FileShareStatus") != "DELETING":
                    info = {**record.info, "FileShareStatus": "DELETING"}
                    self.registry.update_share(share_arn, info, record.tags)
                    log.info("share %s is DELETING once its backlog is in S3", record.name)
                return False
            self.registry.delete_share(share_arn)
            return True

    def retire_drained_shares(self) -> None:
        for share in self.shares():
            if share.deleting and self.retire_share(share.arn, force=False):
                log.info("share %s retired: everything in it is uploaded and announced", share.name)

    # API hooks

    def notify_when_uploaded(self, share_arn: str) -> str:
        """Everything written to the share before now, settled or not, counts for this request."""
        with self._scan_lock:
            share = self._served_share(share_arn)
            if not share.deleting:  # a DELETING share is no longer scanned: its backlog counts
                self.rescan(share)
            notification_id = str(uuid.uuid4())
            self.state.add_notification(notification_id, share_arn, time.time())
        return notification_id

    def refresh_cache(self, share_arn: str) -> str:
        with self._scan_lock:
            share = self._served_share(share_arn)
            if not share.deleting:
                self.rescan(share)
        notification_id = str(uuid.uuid4())
        entry = refresh_cache_entry(
            source=self.source,
            share_arn=share.arn,
            gateway_arn=share.gateway_arn,
            notification_id=notification_id,
            now=time.time(),
        )
        try:
            self.clients.events().put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            log.warning("refresh-complete event for %s not sent: %s", share.name, exc)
        return notification_id

    def _served_share(self, share_arn: str) -> Share:
        share = self.share(share_arn)
        if share is None:
            raise LookupError(share_arn)
        return share

    def cache_figures(self) -> dict[str, Any]:
        return cache_figures(self.registry.gateways(), self.shares(), self.state)
