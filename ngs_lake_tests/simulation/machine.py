"""The Hypothesis state machine: the world's actions and the lake's processes as rules, the
invariants checked after every step and at quiescence (`settle`).

A rule is a method that changes the world or runs one of the lake's processes, then calls
`self.checked()`. The same methods make the stored counterexamples (test_simulation.py), so
a shrunk failure pastes in as a plain sequence of calls.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from botocore.exceptions import BotoCoreError, ClientError
from hypothesis import event
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from ngs_lake_tests.simulation.aws import Fault, SimulatedCrash
from ngs_lake_tests.simulation.document import DocumentActions
from ngs_lake_tests.simulation.fixity import FixityActions
from ngs_lake_tests.simulation.folders import FolderActions
from ngs_lake_tests.simulation.invariants import ISOLATION, Judge, described, violate
from ngs_lake_tests.simulation.lake import SEQUENCERS, SimLake
from ngs_lake_tests.simulation.sheets import SheetActions
from ngs_lake_tests.simulation.world import TrueRun

STATS: Counter[str] = Counter()  # across examples, for `make soak`
logging.getLogger("ngs_lake").setLevel(logging.CRITICAL)  # the lake's warnings are expected here
SECONDS = [5, 30, 60, 300, 1800, 3600, 4 * 3600, 86400, 3 * 86400]
LAKE_WIDE = ("dynamodb", "sqs", "sns", "s3")


def note(name: str) -> None:
    """Count an action or fault (Hypothesis's statistics, and the soak's own counters)."""
    STATS[name] += 1
    with contextlib.suppress(Exception):  # outside a Hypothesis test: a stored counterexample
        event(name)


class LakeSimulation(
    FolderActions, DocumentActions, SheetActions, FixityActions, RuleBasedStateMachine
):
    lake: SimLake

    @initialize(seed=st.integers(0, 2**16), by_arn=st.booleans())
    def setup(self, seed: int = 0, by_arn: bool = False) -> None:
        self.lake = SimLake(seed, gateways_by_arn=by_arn)
        self.judge = Judge(self.lake, self.lake.inspect["dynamodb"], STATS)
        self.world = self.lake.world
        STATS["examples"] += 1
        if by_arn:
            note("document: gateways named by arn")

    def teardown(self) -> None:
        lake = getattr(self, "lake", None)
        if lake is not None:
            try:
                self.settle()
            finally:
                lake.close()

    def checked(self) -> None:
        STATS["steps"] += 1
        self.judge.check()

    def run_of(self, index: int) -> TrueRun | None:
        runs = sorted(self.world.runs)
        return self.world.runs[runs[index % len(runs)]] if runs else None

    # Sequencers

    @rule(sequencer=st.sampled_from(sorted(SEQUENCERS)))
    def start_run(self, sequencer: str) -> None:
        self.world.write_pod5(self.world.start_run(sequencer))
        note("sequencer: run started")
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5), files=st.integers(1, 3))
    def write_files(self, index: int, files: int = 1) -> None:
        run = self.run_of(index)
        for _ in range(files):
            self.world.write_pod5(run)
        note("sequencer: late file" if run.marker_at else "sequencer: file")
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5))
    def rewrite_file(self, index: int) -> None:
        self.world.rewrite(self.run_of(index))
        note("sequencer: rewritten file")
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5), missing=st.sampled_from([0, 0, 0, 1]))
    def write_marker(self, index: int, missing: int = 0) -> None:
        run = self.run_of(index)
        if run.marker_at is None:
            self.world.write_marker(run, missing)
            note("sequencer: truncated run" if missing else "sequencer: marker")
        self.checked()

    def _session(self, sequencer: str, files: int, marker: str, minutes: int) -> None:
        """A sequencer's working spell: its open run (or a new one) writes files, perhaps its
        marker, while time passes with the daemon up. The common path, so it is drawn often."""
        open_runs = [
            r
            for r in self.world.runs.values()
            if r.sequencer_id == sequencer and r.marker_at is None
        ]
        run = open_runs[-1] if open_runs else self.world.start_run(sequencer)
        for _ in range(files):
            self.world.write_pod5(run)
        if marker != "none":
            self.world.write_marker(run, 1 if marker == "truncated" else 0)
        note(f"sequencer: session ({marker})")
        self.advance(minutes * 60.0, daemon=True)

    @rule(
        sequencer=st.sampled_from(sorted(SEQUENCERS)),
        files=st.integers(0, 3),
        marker=st.sampled_from(["none", "none", "marker", "truncated"]),
        minutes=st.sampled_from([1, 10, 30, 90]),
    )
    def session(self, sequencer: str, files: int, marker: str, minutes: int) -> None:
        self._session(sequencer, files, marker, minutes)

    @rule(
        sequencer=st.sampled_from(sorted(SEQUENCERS)),
        files=st.integers(0, 3),
        marker=st.sampled_from(["none", "marker"]),
        minutes=st.sampled_from([1, 10, 60]),
    )
    def another_session(self, sequencer: str, files: int, marker: str, minutes: int) -> None:
        self._session(sequencer, files, marker, minutes)

    # Time, the gateways and EventBridge

    @rule(seconds=st.sampled_from(SECONDS), daemon=st.booleans())
    def advance(self, seconds: float, daemon: bool = True) -> None:
        """Time passes; with the daemon up, the sensors tick and Dagster runs along the way
        (after each upload or delivery, and a few times between); down, it is an outage."""
        if not daemon:
            self.world.advance(seconds)
            note("daemon: outage")
            self.checked()
            return
        until = self.lake.clock.timestamp() + seconds
        for _ in range(12):
            now = self.lake.clock.timestamp()
            if now >= until:
                break
            due = self.world.next_due()
            step = max(5.0, seconds / 6)
            self.world.advance(min(until, due if due and due > now else now + step) - now)
            self.daemon_round()
        self.world.advance(max(0.0, until - self.lake.clock.timestamp()))
        self.daemon_round(alerts=True)
        self.checked()

    def daemon_round(self, alerts: bool = False) -> None:
        self.process("tick", self.lake.tick)
        self.process("jobs", self.lake.run_lifecycle_jobs)
        if alerts:
            self.process("alerts", self.lake.alert_pass)

    @rule(gateway=st.sampled_from(["gw-a", "gw-b"]), skew=st.sampled_from([-600, 0, 600, 3 * 3600]))
    def gateway_clock(self, gateway: str, skew: float) -> None:
        self.world.gateway(gateway).skew_seconds = skew
        note("gateway: clock skew")
        self.checked()

    @rule(seconds=st.sampled_from([1, 60, 900, 3600]))
    def upload_delay(self, seconds: float) -> None:
        self.world.upload_delay = seconds
        note("gateway: upload delay")
        self.checked()

    @rule(
        seconds=st.sampled_from([0, 60, 3600, 10 * 3600, 20 * 3600]),
        duplicates=st.integers(0, 3),
    )
    def target_outage(self, seconds: float, duplicates: int = 0) -> None:
        """EventBridge cannot deliver to the queue for `seconds` (its events are retried and
        arrive after, world.py), and delivers the next `duplicates` events twice. Outages stay
        under the 24 h after which EventBridge sends an event to the DLQ."""
        self.world.target_outage(seconds)
        self.world.duplicates += duplicates
        note("eventbridge: target outage" if seconds else "eventbridge: on time")
        if duplicates:
            note("eventbridge: duplicates")
        self.checked()

    @rule(order=st.sampled_from(["any", "newest first"]))
    def queue_order(self, order: str) -> None:
        """The order a receive hands out visible messages: a standard queue promises none."""
        self.lake.sqs.order = order
        note(f"sqs: {order}")
        self.checked()

    @rule(lose=st.integers(0, 1), late=st.sampled_from([0, 600, 86400]))
    def confirmations(self, lose: int, late: float = 0) -> None:
        self.world.lose_confirmations += lose
        self.world.late_confirmation = late
        note("gateway: confirmation lost" if lose else "gateway: confirmation delay")
        self.checked()

    @rule(kind=st.sampled_from(["json", "naive time", "unknown share", "wrong bucket"]))
    def malformed_event(self, kind: str) -> None:
        self.world.send(self.world.malformed(kind))
        note(f"event: malformed ({kind})")
        self.checked()

    @precondition(lambda self: any(r.uploads for r in self.world.runs.values()))
    @rule(index=st.integers(0, 5), which=st.integers(0, 20))
    def replay_event(self, index: int, which: int) -> None:
        """An upload event delivered again, later: EventBridge's at-least-once delivery, a
        delete that failed, a crash before the delete, an operator's replay."""
        run = self.run_of(index)
        if run.uploads:
            self.world.send(run.uploads[which % len(run.uploads)].body)
            note("eventbridge: event delivered again")
        self.checked()

    @rule()
    def redrive_dlq(self) -> None:
        self.lake.sqs.move_messages(self.lake.dlq_url, self.lake.queue_url)
        note("sqs: DLQ redriven")
        self.checked()

    @rule(count=st.sampled_from([1, 101, 130]))
    def park_in_dlq(self, count: int) -> None:
        for n in range(count):
            self.lake.sqs.send_message(QueueUrl=self.lake.dlq_url, MessageBody=f"parked {n}")
        note("sqs: many parked" if count > 100 else "sqs: one parked")
        self.checked()

    # Faults

    @rule(kind=st.sampled_from(["fail", "hang", "lost", "slow"]), times=st.integers(1, 6))
    def sns_fault(self, kind: str, times: int = 1) -> None:
        self.lake.faults.faults.append(Fault("sns", "Publish", kind, times))
        note(f"sns: {kind}")
        self.checked()

    @rule(
        kind=st.sampled_from(["throttle", "lost", "conditional"]),
        operation=st.sampled_from(
            ["TransactWriteItems", "UpdateItem", "BatchWriteItem", "Query", "*"]
        ),
        times=st.integers(1, 3),
    )
    def dynamodb_fault(self, kind: str, operation: str, times: int = 1) -> None:
        if kind == "conditional":  # only a transition can lose a race: AWS answers a false
            operation = "TransactWriteItems"  # condition, never a true one, elsewhere
        self.lake.faults.faults.append(Fault("dynamodb", operation, kind, times))
        note(f"dynamodb: {kind}")
        self.checked()

    @rule(on=st.booleans())
    def index_lag(self, on: bool) -> None:
        self.lake.faults.gsi_lag = on
        note("dynamodb: by-state index lags" if on else "dynamodb: index caught up")
        self.checked()

    @rule(
        sequencer=st.sampled_from(sorted(SEQUENCERS)),
        failure=st.sampled_from(["retired share", "gateway not connected", "timeout", "healthy"]),
    )
    def storage_gateway(self, sequencer: str, failure: str) -> None:
        share = self.world.shares[sequencer]
        gateway = self.lake.gateway_api.gateways[share.gateway_arn]
        if failure == "retired share":
            share.retired = True
        elif failure == "gateway not connected":
            gateway.connected = False
        elif failure == "timeout":
            self.lake.faults.faults.append(Fault("storagegateway", "*", "hang", 2, share.arn))
        else:
            share.retired, gateway.connected = False, True
        note(f"storage gateway: {failure}")
        self.checked()

    # The lake's processes

    @rule()
    def tick(self) -> None:
        self.process("tick", self.lake.tick)
        self.checked()

    @rule(after_calls=st.integers(0, 120))
    def crashing_tick(self, after_calls: int) -> None:
        self.lake.faults.crash_after_calls = after_calls
        self.process("tick", self.lake.tick)
        self.lake.faults.crash_after_calls = None
        self.checked()

    @rule(
        operation=st.sampled_from(
            ["UpdateItem", "DeleteMessageBatch", "TransactWriteItems", "Publish", "BatchWriteItem"]
        ),
        nth=st.integers(1, 3),
    )
    def tick_crashing_at(self, operation: str, nth: int = 1) -> None:
        """A tick that dies just before its nth call of `operation` (between two writes)."""
        seen = Counter()

        def crash(service: str, called: str) -> bool:
            seen[called] += 1
            if called == operation and seen[called] == nth:
                note(f"crash: before {operation}")
                raise SimulatedCrash(f"before {service}.{operation}")
            return False

        self.lake.faults.interleave = crash
        self.process("tick", self.lake.tick)
        self.lake.faults.interleave = None
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(index=st.integers(0, 5))
    def migration_during_tick(self, index: int) -> None:
        """The run-log migration (provisioning's, for a run left by the old outbox model) with
        a sensor tick landing between its read and its writes."""
        run = self.run_of(index)
        if not self.lake.make_legacy(run.run_key):
            self.checked()
            return

        def tick_now(service: str, operation: str) -> bool:
            if operation != "TransactWriteItems":
                return False
            self.process("tick", self.lake.tick)
            return True

        self.lake.faults.interleave = tick_now
        self.process("migration", lambda: self.lake.migrate(run.run_key))
        self.lake.faults.interleave = None
        note("migration: during a tick")
        self.checked()

    @rule(fail=st.booleans())
    def lifecycle_jobs(self, fail: bool = False) -> None:
        self.process("jobs", lambda: self.lake.run_lifecycle_jobs(fail))
        note("dagster: runs failed" if fail else "dagster: runs")
        self.checked()

    @rule(concurrent=st.booleans())
    def alert_pass(self, concurrent: bool = False) -> None:
        if concurrent:  # the next sensor tick starts while this pass is still sending
            start = self.lake.clock.monotonic()

            def second_pass(service: str, operation: str) -> bool:
                if operation != "Publish" or self.lake.clock.monotonic() - start < 121:
                    return False
                note("alerts: concurrent pass")
                self.process("alerts", self.lake.alert_pass)
                return True

            self.lake.faults.interleave = second_pass
        self.process("alerts", self.lake.alert_pass)
        self.lake.faults.interleave = None
        self.checked()

    @precondition(lambda self: self.world.runs)
    @rule(command=st.sampled_from(["abort", "retry", "reverify"]), index=st.integers(0, 5))
    def operator(self, command: str, index: int) -> None:
        run = self.run_of(index)
        outcome = self.process("operator", lambda: self.lake.operator(command, run.run_key))
        note(f"operator: {command} {'done' if outcome == 'done' else 'refused'}")
        self.checked()

    def process(self, name: str, action: Any) -> Any:
        """Run one of the lake's processes; a crash abandons it, a failure must be a fault's."""
        plan = self.lake.faults
        plan.crashed = False
        before = sum(plan.exercised.values())
        before_lake_wide = self._lake_wide(plan.exercised)
        ddb_before = _ddb_faults(plan.exercised)
        try:
            return action()
        except SimulatedCrash:
            note(f"crash: {name}")
            if name == "alerts":
                self.judge.alert_duplicates_allowed = True
            return None
        except (ClientError, BotoCoreError) as exc:
            if self._lake_wide(plan.exercised) > before_lake_wide:
                note(f"failed on a fault: {name}")
                return None
            violate(ISOLATION, f"{name} stopped by {described(exc)}")
            return None
        except Exception as exc:
            if sum(plan.exercised.values()) > before and isinstance(exc, RuntimeError):
                return None
            violate(ISOLATION, f"{name} stopped by {type(exc).__name__}: {exc}")
            return None
        finally:
            plan.crashed = False
            # A DynamoDB fault in an alert pass can fail a send's mark after its Publish: the
            # claim's take-over then sends it again, the documented at-least-once (alerts/state).
            if name == "alerts" and _ddb_faults(plan.exercised) > ddb_before:
                self.judge.alert_duplicates_allowed = True

    @staticmethod
    def _lake_wide(exercised: Counter[str]) -> int:
        return sum(n for key, n in exercised.items() if key.split(".")[0] in LAKE_WIDE)

    # Quiescence

    def _deliver_all(self) -> None:
        """A tick at least a minute apart, until all is delivered and taken."""
        lake, world = self.lake, self.world
        for _ in range(60):
            due = world.next_due()
            if due is None and not lake.sqs.queues[lake.queue_url].messages:
                break
            world.advance(max(60.0, (due or 0) - lake.clock.timestamp()))
            self.process("tick", lake.tick)
            self.process("jobs", lake.run_lifecycle_jobs)

    def settle(self) -> None:
        """Heal every fault, deliver everything, tick past every window; then judge."""
        lake, world = self.lake, self.world
        self.restore_document()
        lake.faults.faults.clear()
        lake.faults.gsi_lag = False
        lake.faults.crash_after_calls = None
        world.duplicates, world.lose_confirmations = 0, 0
        world.target_down_until = 0.0  # the next retry of each event delivers it
        for gateway in lake.gateway_api.gateways.values():
            gateway.connected = True
        for _ in range(3):  # until a pass past every window leaves nothing due in the world
            self._deliver_all()
            for seconds in (60, 300, 900, 1800, 3600, 3600, 7200, 7200):
                world.advance(seconds)
                self.daemon_round()
                self.daemon_round(alerts=True)
                self.judge.alerts_follow_conditions()  # against the DLQ as it is now
            if world.next_due() is None and not lake.sqs.queues[lake.queue_url].messages:
                break  # else a late step (an INCOMPLETE run's retry) still waits on the world
        self.judge.check(quiescent=True)
        STATS["quiescence reached"] += 1


def _ddb_faults(exercised: Counter[str]) -> int:
    """Faults that failed a DynamoDB call (an index's lag fails none)."""
    return sum(
        n
        for key, n in exercised.items()
        if key.startswith("dynamodb.") and key != "dynamodb.gsi_lag"
    )
