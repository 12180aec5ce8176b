"""The gateway's durable registry of gateways and file shares, in SQLite in its state folder.

SQLite because the gateway must survive kill -9 without losing a share, and one file in the state
folder is what a lab workstation can back up.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gateways (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ip TEXT NOT NULL,
    cache_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    arn TEXT PRIMARY KEY,
    gateway_arn TEXT NOT NULL REFERENCES gateways(arn),
    name TEXT NOT NULL,
    client_token TEXT NOT NULL,
    info TEXT NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE (gateway_arn, name),
    UNIQUE (gateway_arn, client_token)
);
"""


@dataclass(frozen=True)
class GatewayRecord:
    arn: str
    name: str
    ip: str
    cache_bytes: int


@dataclass(frozen=True)
class ShareRecord:
    arn: str
    gateway_arn: str
    name: str
    client_token: str
    info: dict[str, Any]
    tags: dict[str, str]


class ShareRegistry:
    """Gateways and their shares; every write commits before the API answers."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def upsert_gateway(self, gateway: GatewayRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO gateways(arn, name, ip, cache_bytes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(arn) DO UPDATE SET name=excluded.name, ip=excluded.ip, "
                "cache_bytes=excluded.cache_bytes",
                (gateway.arn, gateway.name, gateway.ip, gateway.cache_bytes),
            )

    def gateways(self) -> list[GatewayRecord]:
        rows = self._db.execute("SELECT arn, name, ip, cache_bytes FROM gateways ORDER BY name")
        return [GatewayRecord(*row) for row in rows]

    def gateway(self, arn: str) -> GatewayRecord | None:
        row = self._db.execute(
            "SELECT arn, name, ip, cache_bytes FROM gateways WHERE arn = ?", (arn,)
        ).fetchone()
        return GatewayRecord(*row) if row else None

    def add_share(self, share: ShareRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO shares(arn, gateway_arn, name, client_token, info, tags) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    share.arn,
                    share.gateway_arn,
                    share.name,
                    share.client_token,
                    json.dumps(share.info),
                    json.dumps(share.tags),
                ),
            )

    def update_share(self, arn: str, info: dict[str, Any], tags: dict[str, str]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE shares SET info = ?, tags = ? WHERE arn = ?",
                (json.dumps(info), json.dumps(tags), arn),
            )

    def delete_share(self, arn: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM shares WHERE arn = ?", (arn,))

    def shares(self, gateway_arn: str | None = None) -> list[ShareRecord]:
        query = "SELECT arn, gateway_arn, name, client_token, info, tags FROM shares"
        args: tuple[str, ...] = ()
        if gateway_arn is not None:
            query += " WHERE gateway_arn = ?"
            args = (gateway_arn,)
        return [self._share(row) for row in self._db.execute(query + " ORDER BY name", args)]

    def share(self, arn: str) -> ShareRecord | None:
        row = self._db.execute(
            "SELECT arn, gateway_arn, name, client_token, info, tags FROM shares WHERE arn = ?",
            (arn,),
        ).fetchone()
        return self._share(row) if row else None

    def share_by_token(self, gateway_arn: str, client_token: str) -> ShareRecord | None:
        row = self._db.execute(
            "SELECT arn, gateway_arn, name, client_token, info, tags FROM shares "
            "WHERE gateway_arn = ? AND client_token = ?",
            (gateway_arn, client_token),
        ).fetchone()
        return self._share(row) if row else None

    @staticmethod
    def _share(row: tuple[Any, ...]) -> ShareRecord:
        arn, gateway_arn, name, token, info, tags = row
        return ShareRecord(arn, gateway_arn, name, token, json.loads(info), json.loads(tags))
