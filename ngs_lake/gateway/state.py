"""The gateway's durable upload state: every file it has seen, and every pending notification.

A file is `dirty` from the moment a change is seen until an upload of exactly that size and
mtime is recorded `clean`; `event_pending` stays set until its upload event is accepted. Each
change takes the next sequence number, so a NotifyWhenUploaded request can remember "everything
up to here" and complete once nothing at or below that number is dirty. All of it is in SQLite,
committed before anything acts on it, so kill -9 loses nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    share_arn TEXT NOT NULL,
    path TEXT NOT NULL,
    is_dir INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    changed_at REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('dirty', 'clean')),
    next_attempt_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    uploaded_size INTEGER,
    uploaded_mtime_ns INTEGER,
    version_id TEXT,
    checksum TEXT,
    uploaded_at REAL,
    event_pending INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (share_arn, path)
);
CREATE INDEX IF NOT EXISTS files_dirty ON files (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS files_events ON files (event_pending);
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    share_arn TEXT NOT NULL,
    requested_at REAL NOT NULL,
    watermark INTEGER NOT NULL,
    completed_at REAL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('seq', 0);
"""


@dataclass(frozen=True)
class FileRecord:
    share_arn: str
    path: str
    is_dir: bool
    size: int
    mtime_ns: int
    seq: int
    changed_at: float
    state: str
    attempts: int
    version_id: str | None
    checksum: str | None
    uploaded_at: float | None


@dataclass(frozen=True)
class PendingNotification:
    notification_id: str
    share_arn: str
    requested_at: float
    watermark: int


@dataclass(frozen=True)
class ShareCache:
    share_arn: str
    files: int
    used_bytes: int
    dirty_bytes: int
    dirty_files: int
    oldest_dirty_at: float | None
    events_pending: int


_FILE_COLUMNS = (
    "share_arn, path, is_dir, size, mtime_ns, seq, changed_at, state, attempts, version_id, "
    "checksum, uploaded_at"
)


class UploadState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL sync survives the process dying at any point (kill -9); only a power
        # cut could lose the last commits, and the next rescan finds those files again.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # Observing the file system

    def observe(
        self, share_arn: str, entries: list[tuple[str, bool, int, int]], now: float | None = None
    ) -> int:
        """Record (path, is_dir, size, mtime_ns) as seen; returns how many were new or changed.

        A file already uploaded with exactly this size and mtime stays clean: nothing unchanged
        is uploaded again, across restarts too.
        """
        now = time.time() if now is None else now
        changed = 0
        with self._transaction() as db:
            for path, is_dir, size, mtime_ns in entries:
                row = db.execute(
                    "SELECT size, mtime_ns, state, uploaded_size, uploaded_mtime_ns FROM files "
                    "WHERE share_arn = ? AND path = ?",
                    (share_arn, path),
                ).fetchone()
                if row is not None:
                    seen_size, seen_mtime, state, up_size, up_mtime = row
                    if (seen_size, seen_mtime) == (size, mtime_ns):
                        continue
                    if state == "clean" and (up_size, up_mtime) == (size, mtime_ns):
                        continue
                seq = self._next_seq(db)
                # Settling counts from the last modification, as the appliance does; a file
                # found already old is settled at once.
                changed_at = min(now, mtime_ns / 1e9) if not is_dir else now
                db.execute(
                    "INSERT INTO files (share_arn, path, is_dir, size, mtime_ns, seq, changed_at, "
                    "state, next_attempt_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 'dirty', 0, 0) "
                    "ON CONFLICT (share_arn, path) DO UPDATE SET size = excluded.size, "
                    "mtime_ns = excluded.mtime_ns, seq = excluded.seq, "
                    "changed_at = excluded.changed_at, state = 'dirty', next_attempt_at = 0, "
                    "attempts = 0",
                    (share_arn, path, int(is_dir), size, mtime_ns, seq, changed_at),
                )
                changed += 1
        return changed

    @staticmethod
    def _next_seq(db: sqlite3.Connection) -> int:
        db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")
        return db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]

    def current_seq(self) -> int:
        return self._db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]

    # Uploading

    def due(
        self, share_arn: str, settled_before: float, now: float, limit: int
    ) -> list[FileRecord]:
        """Dirty files of a share unchanged since `settled_before` and not backing off."""
        rows = self._db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE share_arn = ? AND state = 'dirty' "
            "AND changed_at <= ? AND next_attempt_at <= ? ORDER BY is_dir DESC, seq LIMIT ?",
            (share_arn, settled_before, now, limit),
        ).fetchall()
        return [_file(row) for row in rows]

    def mark_uploaded(
        self,
        record: FileRecord,
        version_id: str | None,
        checksum: str | None,
        now: float | None = None,
    ) -> bool:
        """Clean, if the file is still what was uploaded; False if it changed meanwhile."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE files SET state = 'clean', uploaded_size = size, "
                "uploaded_mtime_ns = mtime_ns, version_id = ?, checksum = ?, uploaded_at = ?, "
                "event_pending = 1, attempts = 0, in_flight = 0 "
                "WHERE share_arn = ? AND path = ? AND seq = ?",
                (version_id, checksum, now, record.share_arn, record.path, record.seq),
            )
            return cursor.rowcount == 1

    def mark_failed(self, record: FileRecord, retry_in: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(
                "UPDATE files SET attempts = attempts + 1, next_attempt_at = ?, in_flight = 0 "
                "WHERE share_arn = ? AND path = ? AND seq = ?",
                (now + retry_in, record.share_arn, record.path, record.seq),
            )

    def mark_in_flight(self, record: FileRecord) -> bool:
        """Claim a due file for upload; False if it is no longer what was due.

        The claim is the one atomic check that the file is still dirty at this version: a
        `due` listing taken just before another worker marked it uploaded would otherwise send
        it twice. Remembered, too, so that after a crash an upload that did finish is kept.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE files SET in_flight = 1 WHERE share_arn = ? AND path = ? AND seq = ? "
                "AND state = 'dirty'",
                (record.share_arn, record.path, record.seq),
            )
            return cursor.rowcount == 1

    def in_flight(self) -> list[FileRecord]:
        rows = self._db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE in_flight = 1 AND state = 'dirty'"
        ).fetchall()
        return [_file(row) for row in rows]

    def clear_in_flight(self, record: FileRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE files SET in_flight = 0 WHERE share_arn = ? AND path = ?",
                (record.share_arn, record.path),
            )

    def forget(self, record: FileRecord) -> None:
        """A file that vanished before upload: nothing to upload, nothing to wait for."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM files WHERE share_arn = ? AND path = ? AND seq = ? "
                "AND state = 'dirty'",
                (record.share_arn, record.path, record.seq),
            )

    # Events

    def pending_events(self, limit: int, share_arns: list[str]) -> list[FileRecord]:
        """The oldest uploads not yet announced, of these shares only: an event names its share's
        bucket, so none can be sent for a share no longer registered."""
        marks = ", ".join("?" * len(share_arns))
        rows = self._db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE event_pending = 1 "
            f"AND share_arn IN ({marks}) ORDER BY uploaded_at LIMIT ?",
            (*share_arns, limit),
        ).fetchall()
        return [_file(row) for row in rows]

    def events_sent(self, records: list[FileRecord]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE files SET event_pending = 0 WHERE share_arn = ? AND path = ? "
                "AND version_id IS ?",
                [(r.share_arn, r.path, r.version_id) for r in records],
            )

    def backlog(self, share_arn: str) -> int:
        """Files of the share not yet uploaded, or uploaded and not yet announced."""
        return self._db.execute(
            "SELECT COUNT(*) FROM files WHERE share_arn = ? "
            "AND (state = 'dirty' OR event_pending = 1)",
            (share_arn,),
        ).fetchone()[0]

    def forget_share(self, share_arn: str) -> None:
        """DeleteFileShare with ForceDelete: what was not uploaded or announced is dropped."""
        with self._transaction() as db:
            db.execute("DELETE FROM files WHERE share_arn = ?", (share_arn,))

    # Notifications

    def add_notification(self, notification_id: str, share_arn: str, now: float) -> None:
        with self._transaction() as db:
            watermark = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]
            db.execute(
                "INSERT INTO notifications VALUES (?, ?, ?, ?, NULL)",
                (notification_id, share_arn, now, watermark),
            )

    def pending_notifications(self) -> list[PendingNotification]:
        rows = self._db.execute(
            "SELECT notification_id, share_arn, requested_at, watermark FROM notifications "
            "WHERE completed_at IS NULL ORDER BY requested_at"
        ).fetchall()
        return [PendingNotification(*row) for row in rows]

    def outstanding_before(self, share_arn: str, watermark: int) -> int:
        """Changes at or below the watermark not yet uploaded and announced."""
        return self._db.execute(
            "SELECT COUNT(*) FROM files WHERE share_arn = ? AND seq <= ? "
            "AND (state = 'dirty' OR event_pending = 1)",
            (share_arn, watermark),
        ).fetchone()[0]

    def complete_notification(self, notification_id: str, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE notifications SET completed_at = ? WHERE notification_id = ?",
                (now, notification_id),
            )

    # Cache figures

    def share_cache(self, share_arn: str) -> ShareCache:
        files, used, dirty, dirty_files, oldest, events = self._db.execute(
            "SELECT SUM(1 - is_dir), COALESCE(SUM(size), 0), "
            "COALESCE(SUM(CASE WHEN state = 'dirty' THEN size ELSE 0 END), 0), "
            "SUM(CASE WHEN state = 'dirty' THEN 1 ELSE 0 END), "
            "MIN(CASE WHEN state = 'dirty' THEN changed_at END), SUM(event_pending) "
            "FROM files WHERE share_arn = ?",
            (share_arn,),
        ).fetchone()
        return ShareCache(share_arn, files or 0, used, dirty, dirty_files or 0, oldest, events or 0)

    def file(self, share_arn: str, path: str) -> FileRecord | None:
        row = self._db.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE share_arn = ? AND path = ?",
            (share_arn, path),
        ).fetchone()
        return _file(row) if row else None


def _file(row: tuple) -> FileRecord:
    return FileRecord(*row[:2], bool(row[2]), *row[3:])
