"""`make defect-hunt`: issue #30's acceptance, measured. Each of the 15 defects is put back on
purpose (`defects/NN-*.patch`, against HEAD) in a temporary detached worktree, and the soak
searches that tree from an empty example database (no stored examples, no `@example`) until
its first failure. The table says which were found, how soon, under which invariant's name,
and the shrunk counterexample the simulation printed.

    python -m ngs_lake_tests.simulation.defect_hunt [--only 3,7] [--minutes 10] [--jobs 2]

With --invariants, each invariant instead: its rule broken on purpose in the product code (a
defect's patch, or `defects/invariants/*.patch` for issues #34 and #35), then the stored
scenario that exercises it, which must fail naming that invariant and no other.

Each soak's whole output is kept beside the results (`--results`, default
bench/results/defect-hunt.md, and its folder defect-hunt/NN.log).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ngs_lake_tests.simulation import invariants as inv
from ngs_lake_tests.simulation.document import CONFIG_ALERT, CONFIG_ISOLATION
from ngs_lake_tests.simulation.folders import (
    FACTS_KEPT,
    FACTS_SILENT,
    FOLDER_ALERT_ONCE,
    PARENT_NOT_ALERTED,
    RUN_NOT_STRAY,
)
from ngs_lake_tests.simulation.invariants import INVARIANTS

DEFECTS = Path(__file__).parent / "defects"
_SIM = "ngs_lake_tests/test_simulation.py::test_defect_"
_META = "ngs_lake_tests/test_simulation_metadata.py::test_"
_FACTS = _META + "facts_from_a_summary_in_the_starting_batch_are_kept_through_redeliveries"
_FOLDERS = _META + "a_foreign_folder_alerts_once_an_experiment_folder_never_or_until_its_late_run"
_DOCUMENT = _META + "an_invalid_document_stops_no_tick_and_alerts_once_until_fixed"
# Each invariant: the patch that breaks its rule in the product code, and the stored scenario.
INVARIANT_BREAKS = (
    (inv.ONCE_IN_ORDER, "07-message-id-reused-across-epochs.patch", _SIM + "07_a_run_completed_again_after_reverify_gets_a_new_message_id"),
    (inv.COMPLETE, "12-confirmation-mixes-clocks.patch", _SIM + "12_a_gateway_clock_ahead_confirms_no_run_before_its_files_are_uploaded"),
    (inv.NO_FALSE_STALL, "03-stalls-judged-mid-backlog.patch", _SIM + "03_a_backlog_handed_out_newest_first_after_a_daemon_outage_aborts_no_run"),
    (inv.REDELIVERY, "02-redelivery-counts-as-late.patch", _SIM + "02_a_redelivered_event_of_a_completed_run_makes_no_amendment"),
    (inv.NOT_STUCK, "01-owed-messages-older-than-two-days.patch", _SIM + "01_an_operator_abort_of_a_run_silent_for_days_is_announced"),
    (inv.WORK_ENDS, "05-succeeded-work-requested-again.patch", _SIM + "05_a_manifest_refresh_that_succeeded_is_not_requested_again"),
    (inv.ISOLATION, "06-gateway-failure-stops-tick.patch", _SIM + "06_a_retired_share_does_not_stop_the_tick_for_other_runs"),
    (inv.ALERTS_TRUE, "09-dlq-sample-judged-whole.patch", _SIM + "09_an_old_parked_message_keeps_its_alert_open_among_a_hundred_new_ones"),
    (FACTS_KEPT, "invariants/facts-kept.patch", _FACTS),
    (FACTS_SILENT, "invariants/facts-silent.patch", _FACTS),
    (RUN_NOT_STRAY, "invariants/run-not-stray.patch", _FACTS),
    (PARENT_NOT_ALERTED, "invariants/parent-not-alerted.patch", _FOLDERS),
    (FOLDER_ALERT_ONCE, "invariants/folder-alert-once.patch", _FOLDERS),
    (CONFIG_ISOLATION, "invariants/config-isolation.patch", _DOCUMENT),
    (CONFIG_ALERT, "invariants/config-alert.patch", _DOCUMENT),
)  # fmt: skip
_FAILURE = re.compile(r"^E\s+(?:AssertionError|RuntimeError): (.*)$", re.MULTILINE)
_FOUND = re.compile(r"^=== FOUND \((\d+) s\): (.*)$")
_DETECTED = re.compile(r"^first detected: ([\d.]+) s \(([\d.]+) s CPU\)$")


@dataclass
class Hunt:
    patch: Path
    found: bool = False
    seconds: float | None = None  # until the failure was first raised (before shrinking)
    cpu: float | None = None  # the soak's CPU time until then
    shrunk_by: float | None = None  # until it was shrunk and printed
    message: str = ""
    steps: list[str] = field(default_factory=list)
    error: str = ""
    searched: str = ""  # the soak's figures: wall and CPU minutes, examples, steps

    @property
    def number(self) -> int:
        return int(self.patch.name[:2])

    @property
    def invariant(self) -> str:
        """The invariant the failure names (the longest name its message starts with)."""
        named = [n for n in INVARIANTS if self.message.startswith(f"{n}:")]
        return max(named, key=len) if named else self.message.split(":")[0]

    def compact(self) -> str:
        """The shrunk steps without the machine's boilerplate, one call after another."""
        calls = [
            s.strip().removeprefix("state.")
            for s in self.steps
            if s.strip().startswith("state.") and s.strip() != "state.teardown()"
        ]
        return "; ".join(calls)


def parse(output: str, hunt: Hunt) -> Hunt:
    lines = output.splitlines()
    for line in lines:
        if line.startswith("--- soak: "):
            hunt.searched = line.removeprefix("--- soak: ").split(", quiescence")[0]
    for index, line in enumerate(lines):
        found = _FOUND.match(line)
        if found and not hunt.found:
            hunt.found, hunt.shrunk_by, hunt.message = True, float(found[1]), found[2]
            for after in lines[index + 1 :]:
                detected = _DETECTED.match(after)
                if detected:
                    hunt.seconds, hunt.cpu = float(detected[1]), float(detected[2])
                elif after.startswith("    "):
                    hunt.steps.append(after[4:])
                else:
                    break
    return hunt


def repository() -> Path:
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(top.stdout.strip())


class PatchedTree:
    """A temporary detached worktree of HEAD with one patch applied; removed on exit."""

    def __init__(self, patch: Path) -> None:
        self.patch, self.repo = patch, repository()
        self.path = Path(tempfile.mkdtemp(prefix=f"defect-{patch.stem[:12]}-"))

    def __enter__(self) -> Path:
        git = ["git", "-C", str(self.repo), "worktree", "add", "--detach", str(self.path), "HEAD"]
        subprocess.run(git, check=True, capture_output=True)
        applied = subprocess.run(
            ["git", "-C", str(self.path), "apply", str(self.patch)], capture_output=True, text=True
        )
        if applied.returncode:
            self.__exit__()
            raise RuntimeError(f"{self.patch.name} does not apply: {applied.stderr.strip()}")
        return self.path

    def __exit__(self, *_: object) -> None:
        subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "remove", "--force", str(self.path)],
            capture_output=True,
        )


def check_invariant(invariant: str, patch: str, node: str, logs: Path) -> tuple[bool, str]:
    """Break the invariant's rule (the patch), run its stored scenario: the failure's message."""
    with PatchedTree(DEFECTS / patch) as tree:
        command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", node, "-x"]
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        test = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
    (logs / f"invariant-{Path(patch).stem}.log").write_text(test.stdout + test.stderr)
    failure = _FAILURE.search(test.stdout)
    message = failure[1] if failure else f"no failure (pytest exit {test.returncode})"
    named = [n for n in INVARIANTS if message.startswith(f"{n}:")]
    ok = bool(named) and max(named, key=len) == invariant
    print(f"  {'ok ' if ok else 'BAD'} {invariant} <- {patch}: {message[:160]}", flush=True)
    return ok, message


def invariants_report(results: list[tuple[str, str, bool, str]]) -> str:
    lines = [
        "# Each invariant, broken on purpose, reported by its own name",
        "",
        "| invariant | rule broken (patch) | reported by its name | failure |",
        "|---|---|---|---|",
        *(
            f"| {name} | {patch} | {'yes' if ok else 'NO'} | {message[:200]} |"
            for name, patch, ok, message in results
        ),
        "",
    ]
    return "\n".join(lines)


def hunt_one(
    patch: Path, minutes: float, logs: Path, shrink_seconds: int, cpu_budget: bool = False
) -> Hunt:
    """Put the defect back in a worktree of HEAD and soak it until the first failure."""
    hunt = Hunt(patch)
    try:
        tree_of = PatchedTree(patch)
        tree = tree_of.__enter__()
    except RuntimeError as exc:
        hunt.error = str(exc)
        return hunt
    try:
        command = [
            sys.executable, "-m", "ngs_lake_tests.simulation.soak", "--minutes", str(minutes),
            "--stop-at-first", "--past-known-limits", "--shrink-seconds", str(shrink_seconds),
        ] + (["--cpu-budget"] if cpu_budget else [])  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        soak = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
        output = soak.stdout + soak.stderr
        (logs / f"{patch.name[:2]}.log").write_text(output)
        parse(output, hunt)
        if not hunt.found and "--- soak:" not in output:
            hunt.error = output.strip().splitlines()[-1] if output.strip() else "no output"
    finally:
        tree_of.__exit__()
    print(f"  {row(hunt)}", flush=True)
    return hunt


def row(hunt: Hunt) -> str:
    if hunt.error:
        return f"| {hunt.number} | {hunt.patch.name} | error | | | {hunt.error} |"
    if not hunt.found:
        return f"| {hunt.number} | {hunt.patch.name} | no | | | searched {hunt.searched} |"
    seconds = f"{hunt.seconds:.0f} ({hunt.cpu:.0f} CPU)" if hunt.seconds is not None else "?"
    return (
        f"| {hunt.number} | {hunt.patch.name} | yes | {seconds} (shrunk by {hunt.shrunk_by:.0f}) "
        f"| {hunt.invariant} | `{hunt.compact()}` |"
    )


def report(hunts: list[Hunt], minutes: float, load: str) -> str:
    found = sum(h.found for h in hunts)
    lines = [
        "# Defect hunt (issue #30's acceptance)",
        "",
        f"Each defect put back on HEAD, then `soak --minutes {minutes:g} --stop-at-first` from "
        f"an empty example database. Found: {found} of {len(hunts)}. Load average at the end: "
        f"{load}.",
        "",
        "Seconds: wall clock until the failure was first raised (the soak's own CPU seconds in "
        "brackets: on a shared machine, the search it took), then until it was shrunk and "
        "printed.",
        "",
        "| defect | patch | found | seconds | invariant | shrunk counterexample |",
        "|---|---|---|---|---|---|",
        *(row(h) for h in hunts),
        "",
        "## Failure messages",
        "",
        *(f"- {h.number}: {h.message or h.error or 'not found'}" for h in hunts),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="defect numbers, comma-separated")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--jobs", type=int, default=1, help="soaks at a time (shared machine)")
    parser.add_argument("--shrink-seconds", type=int, default=60)
    parser.add_argument(
        "--cpu-budget", action="store_true", help="each soak's --minutes of its own CPU time"
    )
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--invariants", action="store_true", help="break each invariant's rule, check its name"
    )
    args = parser.parse_args()
    if args.invariants:
        check_invariants(args.results or Path("bench/results/invariant-names.md"), args.jobs)
        return
    args.results = args.results or Path("bench/results/defect-hunt.md")
    only = {int(n) for n in args.only.split(",") if n}
    patches = sorted(p for p in DEFECTS.glob("*.patch") if not only or int(p.name[:2]) in only)
    logs = args.results.with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"hunting {len(patches)} defects, {args.minutes:g} min each, {args.jobs} at a time")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        hunts = list(
            pool.map(
                lambda p: hunt_one(p, args.minutes, logs, args.shrink_seconds, args.cpu_budget),
                patches,
            )
        )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = report(hunts, args.minutes, load)
    args.results.write_text(text)
    print(text)
    print(f"{(time.monotonic() - started) / 60:.1f} min; results in {args.results}, logs in {logs}")
    sys.exit(0 if all(h.found for h in hunts) else 1)


def check_invariants(results: Path, jobs: int) -> None:
    logs = results.with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(lambda b: check_invariant(*b, logs), INVARIANT_BREAKS))
    rows = [(b[0], b[1], ok, m) for b, (ok, m) in zip(INVARIANT_BREAKS, outcomes, strict=True)]
    text = invariants_report(rows)
    results.write_text(text)
    print(text)
    sys.exit(0 if all(ok for _, _, ok, _ in rows) else 1)


if __name__ == "__main__":
    main()
