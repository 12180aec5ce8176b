"""A small HTTP proxy in front of moto that fails, delays or hangs chosen AWS actions.

Actions are matched by `X-Amz-Target` (JSON protocols: SQS, DynamoDB, EventBridge), by the
`Action` form field (query protocols: SNS), or for S3's REST calls by method and path without the
query (`PUT /bucket/key`, `GET /bucket/key`; a listing is `GET /bucket`). Faults are real: the
client sees a 500, S3's 403 AccessDenied, a slow answer, a connection closed without an answer, or
one that never answers, exactly as it would from a sick or forbidding endpoint.

It can also keep the request bodies of chosen actions, to show what a client really sent, and
rewrite a body before moto sees it (e.g. cap a long poll so a test does not wait 20 s on it).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

# forward_hang and forward_fail pass the request on and then hang or answer 500: the action took
# effect upstream, but the caller cannot know it (a crash or a lost answer after the call).
# deny answers as S3 does when IAM or a bucket policy refuses the call; drop closes the connection
# without a word (botocore's ConnectionClosedError).
Fault = Literal["fail", "hang", "delay", "withhold", "forward_hang", "forward_fail", "deny", "drop"]
S3_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>FAULTPROXY0001</RequestId>"
    b"<HostId>injected-by-the-test-proxy</HostId></Error>"
)


@dataclass
class FaultRules:
    rules: dict[str, Fault] = field(default_factory=dict)
    delay_seconds: float = 2.0
    seen: dict[str, int] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)
    recorded: dict[str, list[bytes]] = field(default_factory=dict)  # action -> bodies sent
    rewrites: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)

    def record(self, action: str) -> list[bytes]:
        """Keep every body the client sends for `action`, as sent, in the list returned."""
        return self.recorded.setdefault(action, [])

    def set(self, action: str, fault: Fault | None) -> None:
        if fault is None:
            self.rules.pop(action, None)
        else:
            self.rules[action] = fault


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.faults = FaultRules()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def do_DELETE(self) -> None:
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                action = proxy.action_of(self.headers.get("X-Amz-Target", ""), body)
                if not action and self.command in ("PUT", "GET"):  # S3's REST calls: the path
                    action = f"{self.command} {urllib.parse.unquote(self.path.split('?', 1)[0])}"
                proxy.faults.seen[action] = proxy.faults.seen.get(action, 0) + 1
                if action in proxy.faults.recorded:
                    proxy.faults.recorded[action].append(body)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                rewrite = proxy.faults.rewrites.get(action)
                if rewrite is not None:
                    body = rewrite(body)
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                    headers["Content-Length"] = str(len(body))
                fault = proxy.faults.rules.get(action)
                if fault == "withhold":  # answer as S3 would, and keep the object
                    self.send_response(200)
                    self.send_header("ETag", '"00000000000000000000000000000000"')
                    self.send_header("x-amz-version-id", "withheld")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "deny":
                    self._answer(403, "application/xml", S3_ACCESS_DENIED)
                    return
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "hang":
                    proxy.faults.released.wait(600)
                    self.close_connection = True
                    return
                if fault == "fail":
                    payload = (
                        b'{"__type": "InternalFailure", "message": "injected by the test proxy"}'
                    )
                    self.send_response(500)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "delay":
                    time.sleep(proxy.faults.delay_seconds)
                upstream = HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                if fault in ("forward_hang", "forward_fail"):
                    upstream.close()
                    self._after_forwarding(fault)
                    return
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            def _answer(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _after_forwarding(self, fault: str) -> None:
                if fault == "forward_hang":
                    proxy.faults.released.wait(600)
                    self.close_connection = True
                    return
                payload = b'{"__type": "InternalFailure", "message": "injected after forwarding"}'
                self.send_response(500)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def action_of(target: str, body: bytes) -> str:
        if target:
            return target.rsplit(".", 1)[-1]
        if body:
            fields = urllib.parse.parse_qs(body.decode(errors="replace"))
            if "Action" in fields:
                return fields["Action"][0]
        return ""

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.faults.released.set()
        self.server.shutdown()
        self.server.server_close()
