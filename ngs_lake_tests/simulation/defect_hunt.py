"""`make defect-hunt`: issue #30's acceptance, measured. Each of the 15 defects is put back on
purpose (`defects/NN-*.patch`, against HEAD) in a temporary detached worktree, and the soak
searches that tree from an empty example database (no stored examples, no `@example`) until
its first failure. The table says which were found, how soon, under which invariant's name,
and the shrunk counterexample the simulation printed.

    python -m ngs_lake_tests.simulation.defect_hunt [--only 3,7] [--minutes 10] [--jobs 2]

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

from ngs_lake_tests.simulation.invariants import INVARIANTS

DEFECTS = Path(__file__).parent / "defects"
_FOUND = re.compile(r"^=== FOUND \((\d+) s\): (.*)$")
_DETECTED = re.compile(r"^first detected: ([\d.]+) s$")


@dataclass
class Hunt:
    patch: Path
    found: bool = False
    seconds: float | None = None  # until the failure was first raised (before shrinking)
    shrunk_by: float | None = None  # until it was shrunk and printed
    message: str = ""
    steps: list[str] = field(default_factory=list)
    error: str = ""

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
            if s.strip() and s.strip() not in ("state = LakeSimulation()", "state.teardown()")
        ]
        return "; ".join(calls)


def parse(output: str, hunt: Hunt) -> Hunt:
    lines = output.splitlines()
    for index, line in enumerate(lines):
        found = _FOUND.match(line)
        if found and not hunt.found:
            hunt.found, hunt.shrunk_by, hunt.message = True, float(found[1]), found[2]
            for after in lines[index + 1 :]:
                detected = _DETECTED.match(after)
                if detected:
                    hunt.seconds = float(detected[1])
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


def hunt_one(patch: Path, minutes: float, logs: Path, shrink_seconds: int) -> Hunt:
    """Put the defect back in a worktree of HEAD and soak it until the first failure."""
    hunt = Hunt(patch)
    repo = repository()
    tree = Path(tempfile.mkdtemp(prefix=f"defect-{patch.name[:2]}-"))
    git = ["git", "-C", str(repo)]
    subprocess.run(
        [*git, "worktree", "add", "--detach", str(tree), "HEAD"], check=True, capture_output=True
    )
    try:
        applied = subprocess.run(
            ["git", "-C", str(tree), "apply", str(patch)], capture_output=True, text=True
        )
        if applied.returncode:
            hunt.error = f"does not apply: {applied.stderr.strip()}"
            return hunt
        command = [
            sys.executable, "-m", "ngs_lake_tests.simulation.soak", "--minutes", str(minutes),
            "--stop-at-first", "--past-known-limits", "--shrink-seconds", str(shrink_seconds),
        ]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        soak = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
        output = soak.stdout + soak.stderr
        (logs / f"{patch.name[:2]}.log").write_text(output)
        parse(output, hunt)
        if not hunt.found and "--- soak:" not in output:
            hunt.error = output.strip().splitlines()[-1] if output.strip() else "no output"
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], capture_output=True)
    print(f"  {row(hunt)}", flush=True)
    return hunt


def row(hunt: Hunt) -> str:
    if hunt.error:
        return f"| {hunt.number} | {hunt.patch.name} | error | | | {hunt.error} |"
    if not hunt.found:
        return f"| {hunt.number} | {hunt.patch.name} | no | | | |"
    seconds = f"{hunt.seconds:.0f}" if hunt.seconds is not None else "?"
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
        "Seconds: until the failure was first raised (shrunk and printed by the second figure).",
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
    parser.add_argument("--results", type=Path, default=Path("bench/results/defect-hunt.md"))
    args = parser.parse_args()
    only = {int(n) for n in args.only.split(",") if n}
    patches = sorted(p for p in DEFECTS.glob("*.patch") if not only or int(p.name[:2]) in only)
    logs = args.results.with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"hunting {len(patches)} defects, {args.minutes:g} min each, {args.jobs} at a time")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        hunts = list(
            pool.map(lambda p: hunt_one(p, args.minutes, logs, args.shrink_seconds), patches)
        )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = report(hunts, args.minutes, load)
    args.results.write_text(text)
    print(text)
    print(f"{(time.monotonic() - started) / 60:.1f} min; results in {args.results}, logs in {logs}")
    sys.exit(0 if all(h.found for h in hunts) else 1)


if __name__ == "__main__":
    main()
