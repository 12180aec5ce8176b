"""`ngs-lake demo`: the local stack, headless, with N simulated runs, judged from the outside.

It starts moto, the gateway, provisioning and the Dagster daemon (no UI), writes a mix of runs
through the share folders, then waits for every run to reach its final state and for its
`run_manifest` partition (the lineage downstream of `sequencing_run`). It prints a table per run
(state, files, bytes, latencies), drains the consumer queues, and passes only when every run
completed with its manifest and no queue received any `message_id` twice. Its temporary folder
(config, state, logs) is removed at the end, however the demo ends short of SIGKILL, unless kept.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.config.names import LakeNames
from ngs_lake.config.units import format_size, plural
from ngs_lake.gateway.server import share_root
from ngs_lake.local.processes import free_port, ignore_stop_signals, unwind_on_stop_signals
from ngs_lake.local.stack import LocalStack, LocalStackPorts
from ngs_lake.orchestration.control import materialized_partitions
from ngs_lake.runs.ledger import RunLedger
from ngs_lake.runs.model import RunState, parse_iso
from ngs_lake.simulator.lab import LabRun, LabSettings, SimulatedLab, plan_lab

FINAL = {RunState.COMPLETED.value, RunState.ABORTED.value}


@dataclass
class DemoOutcome:
    runs: list[dict[str, Any]]
    manifests: set[str]  # run keys whose run_manifest partition is materialised
    duplicates: dict[str, dict[str, int]]  # queue -> message_id -> count (> 1)
    messages: dict[str, int]  # queue -> messages received

    @property
    def passed(self) -> bool:
        return (
            all(r.get("state") == RunState.COMPLETED.value for r in self.runs)
            and all(r["run_key"] in self.manifests for r in self.runs)
            and not self.duplicates
        )


def demo_config(source: Path, settling_seconds: int, into: Path) -> Path:
    """The document with a shorter settling time, so a demo finishes in minutes."""
    document = yaml.safe_load(source.read_text())
    document["lake"]["settling_time_seconds"] = settling_seconds
    path = into / "lake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_demo(
    config_path: Path,
    runs: int,
    settling_seconds: int = 5,
    timeout_seconds: float = 900,
    echo: Callable[[str], None] = print,
    lab: LabSettings | None = None,
    keep: bool = False,
) -> DemoOutcome:
    """Ctrl-C, SIGTERM and SIGHUP stop the stack (its watchdog does on SIGKILL); the temporary
    folder goes with it unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix="ngs-lake-demo-"))
    echo(f"demo: working in {work} (" + ("kept" if keep else "removed; --keep keeps it") + ")")
    stack = LocalStack(
        config_path=demo_config(config_path, settling_seconds, work),
        state_dir=work / "state",
        ports=LocalStackPorts(moto=free_port(), gateway=free_port(), dagster=free_port()),
        echo=echo,
    )
    settings = lab or LabSettings(runs=runs, duration_seconds=30, stagger_seconds=5)
    unwind_on_stop_signals()
    lab_writers: SimulatedLab | None = None
    try:
        stack.start(with_dagster=True, headless=True)
        clients = AwsClients(AwsTarget.from_environment(stack.config.lake.region))
        planned = plan_lab(stack.config, share_root(stack.state_dir), settings)
        echo(f"demo: {plural(len(planned), 'run')}, settling {settling_seconds} s")
        lab_writers = SimulatedLab(planned, echo=echo).start()
        outcome = _await(stack, clients, planned, timeout_seconds, echo)
    finally:
        ignore_stop_signals()
        if lab_writers is not None:
            lab_writers.stop()
        stack.stop()
        if not keep:
            shutil.rmtree(work)
        echo(f"demo: {'kept' if keep else 'removed'} {work}")
    return outcome


def _await(
    stack: LocalStack,
    clients: AwsClients,
    planned: list[LabRun],
    timeout_seconds: float,
    echo: Callable[[str], None],
) -> DemoOutcome:
    names = LakeNames.of(stack.config)
    ledger = RunLedger(clients, names)
    keys = [r.run_key for r in planned]
    deadline = time.monotonic() + timeout_seconds
    last_line = ""
    while True:
        # The outcome table reads plain data: each run as its JSON form.
        found = {k: run.model_dump(mode="json") for k, run in ledger.get_runs(keys).items()}
        states = Counter(found.get(k, {}).get("state", "NOT SEEN") for k in keys)
        line = ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
        if line != last_line:
            echo(f"demo: {line}")
            last_line = line
        if all(found.get(k, {}).get("state") in FINAL for k in keys):
            break
        if time.monotonic() > deadline:
            echo(f"demo: gave up after {timeout_seconds:.0f} s")
            break
        time.sleep(2)
    manifests = _await_manifests(stack, set(keys), deadline, echo)
    time.sleep(5)  # let the last announcements reach the consumer queues
    duplicates, received = _consumer_messages(clients, stack, names)
    runs = [found.get(k, {"run_key": k, "state": "NOT SEEN"}) for k in keys]
    return DemoOutcome(runs, manifests, duplicates, received)


def _await_manifests(
    stack: LocalStack, keys: set[str], deadline: float, echo: Callable[[str], None]
) -> set[str]:
    """Wait for the eager `run_manifest` partitions (the automation sensor requests them)."""
    while True:
        done = materialized_partitions(stack.dagster_home, "run_manifest") & keys
        if done == keys or time.monotonic() > deadline:
            echo(f"demo: run_manifest materialised for {len(done)} of {plural(len(keys), 'run')}")
            return done
        time.sleep(2)


def _consumer_messages(
    clients: AwsClients, stack: LocalStack, names: LakeNames
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    sqs = clients.sqs()
    duplicates: dict[str, dict[str, int]] = {}
    received: dict[str, int] = {}
    for consumer in stack.config.consumers:
        queue = names.consumer_queue(consumer.name)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        counts: Counter[str] = Counter()
        idle = 0
        while idle < 2:
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not batch:
                idle += 1
                continue
            for message in batch:
                counts[json.loads(message["Body"])["message_id"]] += 1
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        received[queue] = sum(counts.values())
        repeated = {m: n for m, n in counts.items() if n > 1}
        if repeated:
            duplicates[queue] = repeated
    return duplicates, received


def _seconds(run: dict[str, Any], start: str, end: str) -> str:
    steps = run.get("steps") or {}
    if start not in steps or end not in steps:
        return "-"
    return f"{(parse_iso(steps[end]) - parse_iso(steps[start])).total_seconds():.0f} s"


def render_outcome(outcome: DemoOutcome) -> str:
    header = (
        "run",
        "state",
        "files",
        "bytes",
        "start->marker",
        "marker->completed",
        "upload lag",
        "manifest",
    )
    rows = []
    for run in outcome.runs:
        facts = run.get("completion") or {}
        lag = facts.get("upload_lag_seconds")
        rows.append(
            (
                run["run_key"],
                run.get("state", "-"),
                str(facts.get("files", "-")),
                format_size(float(facts["bytes"])) if "bytes" in facts else "-",
                _seconds(run, "STARTED", "MARKER_SEEN"),
                _seconds(run, "MARKER_SEEN", "COMPLETED"),
                "-" if lag is None else f"{float(lag):.0f} s",
                "yes" if run["run_key"] in outcome.manifests else "NO",
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    for queue, count in outcome.messages.items():
        repeated = outcome.duplicates.get(queue)
        note = f", DUPLICATES: {repeated}" if repeated else ", each message_id once"
        lines.append(f"{queue}: {plural(count, 'message')}{note}")
    lines.append("PASS" if outcome.passed else "FAIL")
    return "\n".join(lines)
