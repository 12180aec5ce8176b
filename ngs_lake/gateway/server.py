"""The gateway process: registers the configured gateways and serves their API on loopback.

Every API request must be signed (SigV4) with the gateway's key pair (signatures.py); /health and
/v1/cache are read-only figures for the machine's own tools and take no signature.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from botocore.config import Config

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.model import LakeConfig
from ngs_lake.gateway.api import GatewayApiError, StorageGatewayApi
from ngs_lake.gateway.arns import gateway_arn
from ngs_lake.gateway.registry import GatewayRecord, ShareRegistry
from ngs_lake.gateway.service import GatewayService, GatewayTuning
from ngs_lake.gateway.signatures import GatewayCredentials, ReceivedRequest, check_signature
from ngs_lake.gateway.state import UploadState

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

# The gateway notices an unreachable endpoint quickly and backs off itself, rather than letting
# one call hang on botocore's long defaults while files pile up.
GATEWAY_BOTOCORE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=20,
    max_pool_connections=32,
)


def registry_path(state_dir: Path) -> Path:
    return state_dir / "gateway" / "gateway.db"


def upload_state_path(state_dir: Path) -> Path:
    return state_dir / "gateway" / "uploads.db"


def share_root(state_dir: Path) -> Path:
    return state_dir / "gateways"


def register_gateways(
    registry: ShareRegistry,
    config: LakeConfig,
    account: str,
    only: set[str] | None = None,
) -> list[GatewayRecord]:
    """Make the config's gateways (or `only` those) known under their AWS-form ARNs."""
    records = [
        GatewayRecord(
            arn=g.arn or gateway_arn(config.lake.region, account, g.id),
            name=g.id,
            ip=g.ip,
            cache_bytes=g.cache,
        )
        for g in config.gateways
        if only is None or g.id in only
    ]
    for record in records:
        registry.upsert_gateway(record)
    return records


class _Handler(BaseHTTPRequestHandler):
    api: StorageGatewayApi
    credentials: GatewayCredentials
    service: GatewayService | None
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        try:
            check_signature(self._received(raw), self.credentials, self.api.region)
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            self._send(200, self.api.handle(target, body))
        except GatewayApiError as exc:
            self._send(exc.status, exc.body())
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
            self._send(400, {"__type": "SerializationException", "message": str(exc)[:500]})
        except Exception as exc:  # the API must answer, not hang, whatever went wrong inside
            log.exception("gateway API %s failed", target)
            self._send(500, {"__type": "InternalServerError", "message": str(exc)})

    def _received(self, body: bytes) -> ReceivedRequest:
        headers: dict[str, list[str]] = {}
        for name in dict.fromkeys(k.lower() for k in self.headers):
            headers[name] = self.headers.get_all(name) or []
        return ReceivedRequest(self.command, self.path, headers, body)

    def do_GET(self) -> None:
        if self.path == "/health":
            # 503 while a loop is down, so a supervisor or probe sees what the log says.
            health = self.service.health() if self.service else {"status": "ok", "loops": {}}
            self._send(200 if health["status"] == "ok" else 503, health)
        elif self.path == "/v1/cache" and self.api.uploads is not None:
            # Per-share figures AWS keeps in CloudWatch; served here for `ngs-lake status`.
            self._send(200, self.api.uploads.cache_figures())
        else:
            self._send(404, {"__type": "NotFound", "message": self.path})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        if status >= 400 and "__type" in body:
            self.send_header("x-amzn-ErrorType", body["__type"])
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def build_server(
    api: StorageGatewayApi,
    host: str,
    port: int,
    credentials: GatewayCredentials,
    service: GatewayService | None = None,
) -> ThreadingHTTPServer:
    attributes = {"api": api, "credentials": credentials, "service": service}
    handler = type("StorageGatewayHandler", (_Handler,), attributes)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_gateway(
    config: LakeConfig,
    state_dir: Path,
    account: str,
    host: str = "127.0.0.1",
    port: int = 4570,
    only: set[str] | None = None,
    clients: AwsClients | None = None,
    upload_workers: int | None = None,
) -> None:
    """Serve and upload until SIGTERM or Ctrl-C; every change is committed, so stopping is safe."""
    target = clients.target if clients else AwsTarget.from_environment(config.lake.region)
    credentials = GatewayCredentials.from_environment(os.environ, target.is_local)
    registry = ShareRegistry(registry_path(state_dir))
    state = UploadState(upload_state_path(state_dir))
    gateways = register_gateways(registry, config, account, only)
    clients = clients or AwsClients(target, botocore_config=GATEWAY_BOTOCORE_CONFIG)
    service = GatewayService(
        registry,
        state,
        clients,
        share_root(state_dir),
        GatewayTuning.for_target(clients.target.is_local, upload_workers),
    )
    api = StorageGatewayApi(registry, config.lake.region, account, share_root(state_dir), service)
    server = build_server(api, host, port, credentials, service)
    signal.signal(signal.SIGTERM, _interrupt)
    service.start()
    log.info(
        "gateway API on http://%s:%d serving %s; requests must be signed with key %s",
        host,
        server.server_address[1],
        ", ".join(g.name for g in gateways),
        credentials.access_key_id,
    )
    if not is_loopback(host):
        log.warning("gateway API bound to %s: reachable beyond this machine, over plain HTTP", host)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.stop()
        state.close()
        registry.close()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the service's `finally` stops its loops cleanly."""
    raise KeyboardInterrupt
