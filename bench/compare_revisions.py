"""Compare one benchmark between two source trees (two revisions), round by round on one machine.

On a shared machine a single before/after pair is mostly load. This runs the benchmark from each
tree alternately, one process at a time, for N rounds: each round runs both trees back to back, in
the order A B, then B A in the next round, so that a load that drifts over the session weighs on
both alike. Each process is that tree's own `bench/<name>.py` (the old code's benchmark, for the
old code's API) with `PYTHONPATH` set to the tree and the tree as working directory. The load
average is printed before each process.

A figure is a dotted path into the benchmark's JSON line (`"bench": name`), such as
`default.s3_to_completed_p50` for latency or `sensor_events_s` for ingest. Per tree: median,
min, max; then after/before as the ratio of the medians with a bootstrap 95% interval (each
side resampled apart), the ratio of the minimums (the least disturbed run of each), and the
median of the per-round ratios (the two runs of a round are minutes apart, under similar load).

    .venv/bin/python bench/compare_revisions.py --before /work/wt-before --after . \\
        --bench ingest --rounds 5 --figure sensor_events_s ratio [-- --events 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BOOTSTRAP_RESAMPLES = 10_000


@dataclass
class Sample:
    """One benchmark process: its tree's label, the round, the load before it, its figures."""

    tree: str
    round: int
    load_before: tuple[float, float, float]
    seconds: float
    figures: dict[str, float] = field(default_factory=dict)
    failed: str = ""


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def dig(result: dict, path: str) -> float | None:
    """The number at a dotted path of the benchmark's JSON line, or None where it has none."""
    value: object = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) else None


def run_benchmark(tree: Path, bench: str, extra: list[str], log: Path) -> tuple[dict | None, str]:
    """Run `tree/bench/<bench>.py` with the tree first on the path; return its JSON line (or
    None) and, on failure, why. The benchmark's output goes to `log` and is echoed."""
    python = tree / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [str(python if python.exists() else sys.executable), f"bench/{bench}.py", *extra]
    result = None
    with log.open("w") as out:
        out.write(f"# load average before: {' '.join(f'{x:.2f}' for x in load_average())}\n")
        out.flush()
        process = subprocess.Popen(
            argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            sys.stdout.write("    " + line)
            if line.startswith("{"):
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if parsed.get("bench") == bench:
                    result = parsed
        code = process.wait()
    if code != 0:
        return None, f"exit code {code} (log {log})"
    if result is None:
        return None, f"no JSON line naming {bench!r} (log {log})"
    return result, ""


def sample_from_log(log: Path, bench: str, tree: str, index: int) -> Sample:
    """A sample re-read from its log (`--from-logs`): its JSON line, and the first load average
    the log prints (the driver's own line, or the benchmark's)."""
    result, load = None, (float("nan"),) * 3
    for line in log.read_text().splitlines():
        if "load average" in line and load[0] != load[0]:
            words = line.split("load average")[1].replace(":", " ").split()
            numbers = [w for w in words if w.replace(".", "", 1).isdigit()][:3]
            load = tuple(float(x) for x in numbers)  # type: ignore[assignment]
        if line.startswith("{") and f'"bench": "{bench}"' in line:
            result = json.loads(line)
    return Sample(tree, index, load, float("nan"), result or {}, "" if result else "no JSON line")


def bootstrap_ratio(before: list[float], after: list[float], seed: int = 30) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval for median(after) / median(before)."""
    rng = random.Random(seed)
    ratios = sorted(
        statistics.median(rng.choices(after, k=len(after)))
        / statistics.median(rng.choices(before, k=len(before)))
        for _ in range(BOOTSTRAP_RESAMPLES)
    )
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def summarise(samples: list[Sample], figures: list[str]) -> dict:
    """Per figure: each tree's values, median, min, max, and the after/before comparisons."""
    summary: dict = {}
    for name in figures:
        values = {
            tree: [s.figures[name] for s in samples if s.tree == tree and name in s.figures]
            for tree in ("before", "after")
        }
        entry: dict = {tree: v for tree, v in values.items()}
        if not all(values.values()):
            summary[name] = {**entry, "note": "not measured by both trees"}
            continue
        for tree, v in values.items():
            entry[f"{tree}_median"] = statistics.median(v)
            entry[f"{tree}_min"], entry[f"{tree}_max"] = min(v), max(v)
        entry["ratio_of_medians"] = entry["after_median"] / entry["before_median"]
        entry["ratio_ci95"] = bootstrap_ratio(values["before"], values["after"])
        entry["ratio_of_mins"] = entry["after_min"] / entry["before_min"]
        paired = [
            a.figures[name] / b.figures[name]
            for b in samples
            for a in samples
            if b.tree == "before" and a.tree == "after" and a.round == b.round
            if name in a.figures and name in b.figures and b.figures[name]
        ]
        if paired:
            entry["paired_ratio_median"] = statistics.median(paired)
        summary[name] = entry
    return summary


def print_summary(bench: str, samples: list[Sample], summary: dict) -> None:
    print(f"\ncompare_revisions [{bench}]: {len(samples)} processes")
    print("  round tree    load before (1/5/15 min)  seconds  figures")
    for s in samples:
        load = "/".join(f"{x:.2f}" for x in s.load_before)
        figures = ", ".join(f"{k} {v:.3g}" for k, v in s.figures.items()) or f"FAILED {s.failed}"
        print(f"  {s.round:5d} {s.tree:<7} {load:<25} {s.seconds:7.0f}  {figures}")
    for name, e in summary.items():
        if "note" in e:
            print(f"  {name}: {e['note']}")
            continue
        low, high = e["ratio_ci95"]
        print(
            f"  {name}: before median {e['before_median']:.3g} ({e['before_min']:.3g} to "
            f"{e['before_max']:.3g}); after median {e['after_median']:.3g} ({e['after_min']:.3g} "
            f"to {e['after_max']:.3g}); after/before {e['ratio_of_medians']:.3f} "
            f"[95% bootstrap {low:.3f} to {high:.3f}], of mins {e['ratio_of_mins']:.3f}, "
            f"paired median {e.get('paired_ratio_median', float('nan')):.3f}"
        )


def run_rounds(
    trees: dict[str, Path],
    bench: str,
    rounds: range,
    figures: list[str],
    extra: list[str],
    logs: Path,
) -> list[Sample]:
    """Each round runs both trees, one process at a time: odd rounds before then after, even
    rounds after then before."""
    samples: list[Sample] = []
    for number in rounds:
        order = ("before", "after") if number % 2 == 1 else ("after", "before")
        for tree in order:
            load = load_average()
            print(
                f"round {number}/{rounds[-1]} {tree} ({trees[tree]}): load average "
                + " ".join(f"{x:.2f}" for x in load),
                flush=True,
            )
            started = time.monotonic()
            log = logs / f"{bench}-{number}-{tree}.log"
            result, failed = run_benchmark(trees[tree], bench, extra, log)
            sample = Sample(tree, number, load, time.monotonic() - started, failed=failed)
            for name in figures:
                value = dig(result or {}, name)
                if value is not None:
                    sample.figures[name] = value
            samples.append(sample)
    return samples


def samples_from_logs(logs: Path, bench: str, rounds: range, figures: list[str]) -> list[Sample]:
    """The samples of rounds already run, re-read from their logs (`--from-logs`)."""
    samples = [
        sample_from_log(log, bench, tree, number)
        for number in rounds
        for tree in ("before", "after")
        if (log := logs / f"{bench}-{number}-{tree}.log").exists()
    ]
    for sample in samples:  # keep the figures asked for, as a live run does
        found = {name: dig(sample.figures, name) for name in figures}
        sample.figures = {k: v for k, v in found.items() if v is not None}
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the old revision's tree")
    parser.add_argument("--after", type=Path, required=True, help="the new revision's tree")
    parser.add_argument("--bench", required=True, help="bench/<name>.py in each tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--start-round",
        type=int,
        default=1,
        help="number of the first round (to add rounds to an interrupted run's logs)",
    )
    parser.add_argument("--figure", nargs="+", required=True, help="dotted paths into its JSON")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/compare-revisions"))
    parser.add_argument("--json-out", type=Path, help="also write the samples and summary here")
    parser.add_argument(
        "--from-logs",
        action="store_true",
        help="run nothing: summarise the rounds whose logs are in --logs (after an interrupted run)",
    )
    parser.add_argument("extra", nargs="*", help="arguments for the benchmark, after --")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    args.logs.mkdir(parents=True, exist_ok=True)
    rounds = range(args.start_round, args.start_round + args.rounds)
    if args.from_logs:
        samples = samples_from_logs(args.logs, args.bench, rounds, args.figure)
    else:
        samples = run_rounds(trees, args.bench, rounds, args.figure, args.extra, args.logs)
    summary = summarise(samples, args.figure)
    print_summary(args.bench, samples, summary)
    record = {
        "bench": "compare_revisions",
        "compared": args.bench,
        "trees": {k: str(v) for k, v in trees.items()},
        "samples": [vars(s) for s in samples],
        "summary": summary,
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(record, indent=1))
    print(json.dumps(record))
    return 0 if all(not s.failed for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
