"""The simulated world outside the lake: sequencers writing runs into gateway shares, gateways
uploading them to S3 (moto) and sending EventBridge events, EventBridge delivering them to the
events queue (late, twice, or not at all), NotifyWhenUploaded confirmations; and the ground
truth the invariants judge the lake against. Everything happens on the virtual clock, through
one ordered agenda, so a seed gives one history."""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ngs_lake.runs.events import (
    APPLIANCE_SOURCE,
    FILE_UPLOAD,
    OBJECT_UPLOAD,
)
from ngs_lake_tests.simulation.clock import VirtualClock
from ngs_lake_tests.simulation.fake_gateway import (
    FakeStorageGateway,
    NotificationRequest,
    SimGateway,
    SimShare,
)
from ngs_lake_tests.simulation.fake_sqs import ACCOUNT, REGION, FakeSqs

POD5_BYTES = 4096

# EventBridge delivers an event to a rule's target at once, in no promised order; while the
# target fails it retries "for 24 hours and up to 185 times with an exponential back off and
# jitter", then sends the event to the target's dead-letter queue: provisioning gives the rule's
# target the events queue's own DLQ (DeadLetterConfig, RetryPolicy; provisioning/messaging.py).
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
# So lateness upstream of the queue comes only from a target outage: every event of its period
# arrives at its first retry after the outage ends, those of the whole period in a random order
# within one retry interval. The exact schedule is not published; this one (doubling from 1 s
# to a 10-minute cap, "equal jitter" as in the AWS Architecture Blog the page links) spends its
# 185 attempts in about the documented 24 hours.
MAXIMUM_EVENT_AGE_SECONDS = 86400
RETRY_ATTEMPTS = 185
RETRY_CAP_SECONDS = 600.0


def stamp(moment: float) -> str:
    """EventBridge's `time`: whole seconds, UTC."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Upload:
    """One upload the gateway made and the event it sent about it."""

    event_id: str
    path: str
    true_at: float  # when it reached S3, true time
    event_time: float  # the `time` the gateway stamped (its clock)
    body: str


@dataclass
class TrueRun:
    """A run as its sequencer wrote it: the ground truth."""

    run_key: str
    sequencer_id: str
    share_arn: str
    bucket: str
    folder: str
    stem: str
    written: dict[str, float] = field(default_factory=dict)  # path -> last write (true time)
    sizes: dict[str, int] = field(default_factory=dict)
    pod5: int = 0
    marker_at: float | None = None  # the final summary written (true time)
    claimed_pod5: int = 0  # what the summary says; more than written: a truncated run
    uploads: list[Upload] = field(default_factory=list)
    # issue #33 (simulation/fixity.py): what was written, the instrument's hashes, corruptions
    content: dict[str, bytes] = field(default_factory=dict)
    instrument_sha256: dict[str, str] = field(default_factory=dict)
    corrupted: dict[str, float] = field(default_factory=dict)

    def uploaded_by(self, moment: float) -> set[str]:
        return {u.path for u in self.uploads if u.true_at <= moment}

    def before_marker(self) -> set[str]:
        if self.marker_at is None:
            return set(self.written)
        return {p for p, at in self.written.items() if at <= self.marker_at}

    def all_uploaded_at(self) -> float | None:
        """When every file written up to the marker was in S3 (None: not yet)."""
        wanted = self.before_marker()
        latest: dict[str, float] = {}
        for upload in self.uploads:
            if upload.path in wanted and upload.true_at >= self.written_before(upload.path):
                latest.setdefault(upload.path, upload.true_at)
        if set(latest) != wanted:
            return None
        return max(latest.values(), default=None)

    def written_before(self, path: str) -> float:
        return (
            self.written[path]
            if self.marker_at is None
            else min(self.written[path], self.marker_at)
        )


class World:
    def __init__(
        self,
        clock: VirtualClock,
        rng: random.Random,
        sqs: FakeSqs,
        gateway_api: FakeStorageGateway,
        s3: object,
        queue_url: str,
    ) -> None:
        self.clock, self.rng, self.sqs, self.api, self.s3 = clock, rng, sqs, gateway_api, s3
        self.queue_url = queue_url
        self.agenda: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.runs: dict[str, TrueRun] = {}
        self.shares: dict[str, SimShare] = {}  # sequencer id -> its share
        self.delivered: list[tuple[float, str]] = []  # (true time, body) into the queue
        self.lose_confirmations = 0
        self.late_confirmation = 0.0
        self.target_down_until = 0.0  # EventBridge cannot deliver to the queue until then
        self.dropped: list[str] = []  # events whose retries ran out: sent to the DLQ
        self.dead_letter_url: str | None = None  # the rule target's DeadLetterConfig
        self.duplicates = 0  # the next N events are delivered twice
        self.upload_delay = 5.0
        self.bare_s3: object | None = None  # issue #33: a client that sends no checksum
        self.bare_uploads = 0  # the next N uploads go through it
        api = gateway_api
        api.on_request = self._requested

    # The agenda

    def at(self, moment: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self.agenda, (max(moment, self.clock.timestamp()), self._seq, action))

    def advance(self, seconds: float) -> None:
        """Move time on, doing everything due meanwhile, in order."""
        until = self.clock.timestamp() + seconds
        while self.agenda and self.agenda[0][0] <= until:
            moment, _, action = heapq.heappop(self.agenda)
            self.clock.advance(max(0.0, moment - self.clock.timestamp()))
            action()
        self.clock.advance(max(0.0, until - self.clock.timestamp()))

    def next_due(self) -> float | None:
        return self.agenda[0][0] if self.agenda else None

    # Sequencers

    def start_run(self, sequencer_id: str) -> TrueRun:
        share = self.shares[sequencer_id]
        now = self.clock.timestamp()
        flowcell = f"PAQ{self.rng.randint(10000, 99999)}"
        protocol, acquisition = f"{self.rng.getrandbits(32):08x}", f"{self.rng.getrandbits(32):08x}"
        started = datetime.fromtimestamp(now, UTC)
        folder = f"exp/sample/{started:%Y%m%d_%H%M}_1A_{flowcell}_{protocol}"
        run = TrueRun(
            f"{sequencer_id}/{folder}",
            sequencer_id,
            share.arn,
            self.bucket_of[sequencer_id],
            folder,
            f"{flowcell}_{protocol}_{acquisition}",
        )
        if run.run_key in self.runs:
            return self.runs[run.run_key]
        self.runs[run.run_key] = run
        self.write(
            run,
            f"sample_sheet_{flowcell}_{started:%Y%m%d_%H%M}_{protocol}.csv",
            f"flow_cell_id,sample_id,experiment_id\n{flowcell},sample,exp\n".encode(),
        )
        return run

    def write(self, run: TrueRun, path: str, content: bytes) -> None:
        now = self.clock.timestamp()
        run.written[path] = now
        run.sizes[path] = len(content)
        run.content[path] = content
        gateway = self.api.gateway_of_share(run.share_arn)
        gateway.dirty.add(f"{run.share_arn}|{run.folder}/{path}")
        self.at(now + self.upload_delay, lambda: self._upload(run, path, content, now))

    def write_pod5(self, run: TrueRun) -> None:
        path = f"pod5/{run.stem}_{run.pod5}.pod5"
        run.pod5 += 1
        self.write(run, path, bytes(self.rng.getrandbits(8) for _ in range(16)) * 8)

    def rewrite(self, run: TrueRun) -> None:
        pod5 = sorted(p for p in run.written if p.endswith(".pod5"))
        if pod5:
            self.write(run, pod5[0], b"rewritten" * self.rng.randint(2, 50))

    def write_marker(self, run: TrueRun, missing: int = 0) -> None:
        run.claimed_pod5 = run.pod5 + missing
        run.marker_at = self.clock.timestamp()
        text = (
            f"instrument=PC24B243\nposition=1A\nflow_cell_id={run.stem[:8]}\nsample_id=sample\n"
            f"protocol_group_id=exp\nprotocol_run_id={run.stem[9:17]}-0000\n"
            f"pod5_files_in_final_dest={run.claimed_pod5}\nfastq_files_in_final_dest=0\n"
        )
        self.write(run, f"final_summary_{run.stem}.txt", text.encode())

    # The gateway

    def _upload(self, run: TrueRun, path: str, content: bytes, written_at: float) -> None:
        if run.written.get(path) != written_at:
            return  # rewritten since: the newer write uploads
        gateway = self.api.gateway_of_share(run.share_arn)
        key = f"{run.folder}/{path}"
        client = self.s3
        if self.bare_uploads > 0 and self.bare_s3 is not None:
            self.bare_uploads -= 1
            client = self.bare_s3
        client.put_object(Bucket=run.bucket, Key=key, Body=content)
        gateway.dirty.discard(f"{run.share_arn}|{key}")
        now = self.clock.timestamp()
        event_time = now + gateway.skew_seconds
        body = self._envelope(
            OBJECT_UPLOAD,
            event_time,
            [run.share_arn, gateway.arn, f"arn:aws:s3:::{run.bucket}"],
            {
                "object-size": len(content),
                "modification-time": stamp(written_at + gateway.skew_seconds),
                "object-key": key,
                "event-type": "object-upload-complete",
                "prefix": f"{run.folder}/",
                "bucket-name": run.bucket,
            },
        )
        run.uploads.append(Upload(json.loads(body)["id"], path, now, event_time, body))
        self.send(body)
        self._confirm_due()

    def _requested(self, request: NotificationRequest) -> None:
        self._confirm_due()

    def _confirm_due(self) -> None:
        """Each notification whose covered files are all uploaded sends its event."""
        for request in list(self.api.requests):
            gateway = self.api.gateway_of_share(request.share_arn)
            if request.covers & gateway.dirty:
                continue
            self.api.requests.remove(request)
            if self.lose_confirmations > 0:
                self.lose_confirmations -= 1
                continue
            now = self.clock.timestamp()
            body = self._envelope(
                FILE_UPLOAD,
                now + gateway.skew_seconds,
                [request.share_arn, gateway.arn],
                {
                    "event-type": "upload-complete",
                    "notification-id": request.notification_id,
                    "request-received": stamp(request.requested_at + gateway.skew_seconds),
                    "completed": stamp(now + gateway.skew_seconds),
                },
            )
            self.at(now + self.late_confirmation, lambda body=body: self.send(body))

    def _envelope(self, detail_type: str, moment: float, resources: list[str], detail: dict) -> str:
        return json.dumps(
            {
                "version": "0",
                "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                "detail-type": detail_type,
                "source": APPLIANCE_SOURCE,
                "account": ACCOUNT,
                "time": stamp(moment),
                "region": REGION,
                "resources": resources,
                "detail": detail,
            }
        )

    # EventBridge

    def target_outage(self, seconds: float) -> None:
        """The rule's target (the events queue) fails for `seconds` from now: throttled, or SQS
        unavailable. Events keep coming and are retried; the daemon is not involved."""
        self.target_down_until = max(self.target_down_until, self.clock.timestamp() + seconds)

    def send(self, body: str) -> None:
        """EventBridge's delivery of one event to the queue, maybe twice (at least once)."""
        copies = 1
        if self.duplicates > 0:
            self.duplicates -= 1
            copies = 2
        now = self.clock.timestamp()
        for _ in range(copies):
            self._retry(body, now, 0, now)

    def _retry(self, body: str, sent: float, attempt: int, moment: float) -> None:
        """Walk the event's retry schedule past the target's outage: it is delivered at the
        first attempt after the outage ends, or sent to the DLQ once its attempts or age are
        spent."""
        while moment < self.target_down_until:
            attempt += 1
            backoff = min(RETRY_CAP_SECONDS, 2.0**attempt)
            moment += backoff / 2 + self.rng.uniform(0, backoff / 2)
            if attempt > RETRY_ATTEMPTS or moment - sent > MAXIMUM_EVENT_AGE_SECONDS:
                self.dropped.append(body)
                if self.dead_letter_url is not None:
                    self.sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=body)
                return
        self.at(moment, lambda: self._attempt(body, sent, attempt))

    def _attempt(self, body: str, sent: float, attempt: int) -> None:
        now = self.clock.timestamp()
        if now < self.target_down_until:  # the outage was made longer meanwhile
            self._retry(body, sent, attempt, now)
        else:
            self._deliver(body)

    def _deliver(self, body: str) -> None:
        self.delivered.append((self.clock.timestamp(), body))
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def malformed(self, kind: str) -> str:
        """A message the lake must park with its reason: not JSON, a time without a zone, an
        unknown share, the wrong bucket."""
        if kind == "json":
            return "{not json"
        share = self.shares["PRM-A01"]
        moment = stamp(self.clock.timestamp())
        envelope = {
            "version": "0",
            "id": f"bad-{self.rng.getrandbits(32):08x}",
            "detail-type": "Storage Gateway Object Upload Event",
            "source": "aws.storagegateway",
            "account": ACCOUNT,
            "time": moment.removesuffix("Z") if kind == "naive time" else moment,
            "region": REGION,
            "resources": [
                share.arn if kind != "unknown share" else share.arn + "0",
                share.gateway_arn,
            ],
            "detail": {
                "object-size": 3,
                "modification-time": moment,
                "object-key": "x/y/z/stray.txt",
                "event-type": "object-upload-complete",
                "prefix": "x/",
                "bucket-name": "elsewhere" if kind == "wrong bucket" else self.bucket_of["PRM-A01"],
            },
        }
        return json.dumps(envelope)

    bucket_of: dict[str, str]

    def gateway(self, config_id: str) -> SimGateway:
        return next(g for g in self.api.gateways.values() if g.config_id == config_id)
