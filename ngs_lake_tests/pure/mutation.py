"""`make mutation`: how many small bugs in the pure modules their fast tests catch.

1. mutmut (setup.cfg, [mutmut]) mutates every function of the pure modules, one change at a time,
   and runs the tests of `ngs_lake_tests/pure` that reach the function against each mutant.
2. mutmut 3 leaves module constants and whole statements alone, so the mutants named in
   `CONSTANT_MUTANTS` (the table entries and limits the lake relies on, and the survivors issue
   #26 names) are applied here to a copy of the package, each against its module's tests.

It prints the score of each module and every survivor, and exits 1 if a module scores under 85%
or a named mutant survives. `RunAnnouncer` in announcements.py builds and publishes through AWS,
so it has no fast tests; its mutants are counted apart and not scored.

    .venv/bin/python -m ngs_lake_tests.pure.mutation [--max-children N] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUTANTS = REPO / "mutants"
PURE_TESTS = "ngs_lake_tests/pure"
THRESHOLD = 0.85
AWS_BOUND = "xǁRunAnnouncerǁ"  # mangled method names of RunAnnouncer, which talks to AWS
CAUGHT = {"killed", "timeout"}
# mutmut's exit codes per mutant (mutmut/stats.py): 1 and 3 fail a test, 0 passes them all.
STATUS = {0: "survived", 1: "killed", 3: "killed", 33: "no tests", 34: "skipped", 36: "timeout"}
STATUS |= {24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


@dataclass(frozen=True)
class ConstantMutant:
    path: str
    old: str
    new: str
    tests: str  # test module under ngs_lake_tests/pure


CONSTANT_MUTANTS = (
    # units.py: the standards' factors (#26: KiB 2**10 -> 2*10, PiB 2**50 -> 2**51, * -> /).
    ConstantMutant("ngs_lake/config/units.py", '"KiB": 2**10', '"KiB": 2*10', "test_units.py"),
    ConstantMutant("ngs_lake/config/units.py", '"PiB": 2**50', '"PiB": 2**51', "test_units.py"),
    ConstantMutant("ngs_lake/config/units.py", '"TiB": 2**40', '"TiB": 10**12', "test_units.py"),
    ConstantMutant("ngs_lake/config/units.py", '"day": 86400', '"day": 86401', "test_units.py"),
    ConstantMutant("ngs_lake/config/units.py", '"m": 60,', '"m": 1,', "test_units.py"),
    ConstantMutant(
        "ngs_lake/config/units.py",
        'float(match["number"]) * _DURATION_SECONDS',
        'float(match["number"]) / _DURATION_SECONDS',
        "test_units.py",
    ),
    # events.py (#26: control characters `or` -> `and`, 1,024 -> 1,025, the REFRESH_CACHE branch).
    ConstantMutant(
        "ngs_lake/runs/events.py",
        "ord(c) < 32 or ord(c) == 127",
        "ord(c) < 32 and ord(c) == 127",
        "test_run_events.py",
    ),
    ConstantMutant(
        "ngs_lake/runs/events.py",
        "MAX_KEY_BYTES = 1024",
        "MAX_KEY_BYTES = 1025",
        "test_run_events.py",
    ),
    ConstantMutant(
        "ngs_lake/runs/events.py",
        "if envelope.detail_type == REFRESH_CACHE:",
        "if False:",
        "test_run_events.py",
    ),
    ConstantMutant(
        "ngs_lake/runs/events.py",
        "GATEWAY_SOURCES = (APPLIANCE_SOURCE, SOFTWARE_SOURCE)",
        "GATEWAY_SOURCES = (APPLIANCE_SOURCE,)",
        "test_run_events.py",
    ),
    # illumina.py (#26: RUN_INFO `not in` -> `in`, filter_files returns None, cycles from 2).
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        "if RUN_INFO not in files:",
        "if RUN_INFO in files:",
        "test_illumina_geometry.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        "for tile in run_info.lane_tiles(lane))\n    return out",
        "for tile in run_info.lane_tiles(lane))\n    return None",
        "test_illumina_geometry.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        "range(1, run_info.total_cycles + 1)",
        "range(2, run_info.total_cycles + 1)",
        "test_illumina_geometry.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        "expected_report(expected + data_files(model, info), present)",
        "expected_report(expected, present)",
        "test_illumina_geometry.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        '("RTAComplete.txt", "RunCompletionStatus.xml"),',
        '("RTAComplete.txt",),',
        "test_illumina_geometry.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/illumina.py",
        "default_stall_window = timedelta(hours=2)",
        "default_stall_window = timedelta(hours=3)",
        "test_config_model.py",
    ),
    # config/values.py (#26: the `raise` of _valid_event_type deleted).
    ConstantMutant(
        "ngs_lake/config/values.py",
        "raise ValueError(f\"unknown event type {value!r}; expected one of: {', '.join(EVENT_TYPES)}\")",
        "pass",
        "test_config_model.py",
    ),
    ConstantMutant(
        "ngs_lake/config/model.py",
        "MAX_RULE_NAME = 64",
        "MAX_RULE_NAME = 65",
        "test_config_document.py",
    ),
    ConstantMutant(
        "ngs_lake/config/names.py",
        'LAKE_WIDE_SENSOR = "storage_gateway_events"',
        'LAKE_WIDE_SENSOR = "gateway_events"',
        "test_config_names.py",
    ),
    # The other families' tables.
    ConstantMutant(
        "ngs_lake/platforms/__init__.py",
        'Platform("gridion", Family.NANOPORE',
        'Platform("gridion", Family.PACBIO',
        "test_platform_families.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/nanopore.py",
        "default_stall_window = timedelta(hours=1)",
        "default_stall_window = timedelta(hours=2)",
        "test_config_model.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/pacbio.py",
        "default_stall_window = timedelta(hours=36)",
        "default_stall_window = timedelta(hours=30)",
        "test_config_model.py",
    ),
    ConstantMutant(
        "ngs_lake/platforms/element.py",
        'READ_NAMES = ("I1", "I2", "R1", "R2")',
        'READ_NAMES = ("I1", "R1", "R2")',
        "test_element.py",
    ),
    ConstantMutant(
        "ngs_lake/runs/model.py",
        "        RunEventType.AMENDED,\n        RunEventType.NEEDS_ATTENTION,",
        "        RunEventType.NEEDS_ATTENTION,",
        "test_announcements.py",
    ),
)


def run_mutmut(max_children: int, reuse: bool) -> None:
    if not reuse:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    MUTANTS.mkdir(exist_ok=True)
    log = MUTANTS / "mutmut-run.log"
    mutmut = Path(sys.executable).with_name("mutmut")
    print(f"mutmut run --max-children {max_children} (progress in {log.relative_to(REPO)})")
    with log.open("w") as out:
        result = subprocess.run(
            [str(mutmut), "run", "--max-children", str(max_children)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        sys.exit(f"mutmut run failed ({result.returncode}); see {log}")


def statuses_by_module() -> dict[str, dict[str, str]]:
    """{module path: {mutant name: status}} from mutmut's meta files."""
    modules = {}
    for meta in sorted(MUTANTS.glob("ngs_lake/**/*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        if exit_codes:
            path = str(meta.relative_to(MUTANTS)).removesuffix(".meta")
            modules[path] = {k: STATUS.get(v, "suspicious") for k, v in exit_codes.items()}
    return modules


def score_table(modules: dict[str, dict[str, str]]) -> tuple[list[str], list[str]]:
    """Print one line per module; return the modules under the threshold and the survivors."""
    print(f"\n{'module':<36} {'mutants':>7} {'caught':>7} {'left':>5} {'score':>7}")
    low, survivors = [], []
    for path, statuses in modules.items():
        scored = {k: s for k, s in statuses.items() if AWS_BOUND not in k}
        counts = Counter(scored.values())
        caught = sum(counts[s] for s in CAUGHT)
        score = caught / len(scored)
        print(f"{path:<36} {len(scored):>7} {caught:>7} {len(scored) - caught:>5} {score:>7.1%}")
        if aws_bound := len(statuses) - len(scored):
            print(
                f"{'':<4}+ {aws_bound} mutants of RunAnnouncer (AWS; tested against moto), not run"
            )
        if score < THRESHOLD:
            low.append(path)
        survivors += sorted(k for k, s in scored.items() if s not in CAUGHT)
    return low, survivors


def show_survivors(survivors: list[str]) -> None:
    mutmut = Path(sys.executable).with_name("mutmut")
    print(f"\n{len(survivors)} function mutants not caught:")
    for name in survivors:
        shown = subprocess.run(
            [str(mutmut), "show", name], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout
        changed = [
            line for line in shown.splitlines() if line[:1] in "-+" and line[1:2] not in "-+"
        ]
        print(f"  {name}")
        for line in changed:
            print(f"      {line.strip()[:1]} {line[1:].strip()}")


def run_constant_mutant(mutant: ConstantMutant) -> bool:
    """Whether the module's tests fail against a copy of the package with this one change."""
    with tempfile.TemporaryDirectory(prefix="ngs-lake-mutant-") as tmp:
        root = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / "ngs_lake", root / "ngs_lake", ignore=ignore)
        shutil.copytree(REPO / PURE_TESTS, root / PURE_TESTS, ignore=ignore)
        shutil.copytree(REPO / "ngs_lake_tests" / "data", root / "ngs_lake_tests" / "data")
        shutil.copy(REPO / "ngs_lake_tests" / "__init__.py", root / "ngs_lake_tests")
        target = root / mutant.path
        source = target.read_text()
        if source.count(mutant.old) != 1:
            sys.exit(f"{mutant.path}: {mutant.old!r} is not there exactly once; update the table")
        target.write_text(source.replace(mutant.old, mutant.new))
        pytest = [sys.executable, "-m", "pytest", "-x", "-q", "--rootdir", "."]
        result = subprocess.run(
            [*pytest, "-c", f"{PURE_TESTS}/mutation.ini", f"{PURE_TESTS}/{mutant.tests}"],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            check=False,
        )
        if result.returncode not in (0, 1):
            sys.exit(f"pytest could not run for {mutant}:\n{result.stdout.decode()}")
        return result.returncode == 1


def constant_mutants(max_children: int) -> list[ConstantMutant]:
    """Run the table; return the survivors."""
    print(f"\n{len(CONSTANT_MUTANTS)} constant and statement mutants mutmut does not make:")
    unchanged = ConstantMutant("ngs_lake/config/units.py", "2**10", "2**10", "")
    if run_constant_mutant(unchanged):
        sys.exit("the pure tests fail on an unchanged copy of the package; fix them first")
    with ThreadPoolExecutor(max_children) as pool:
        caught = list(pool.map(run_constant_mutant, CONSTANT_MUTANTS))
    for mutant, killed in zip(CONSTANT_MUTANTS, caught, strict=True):
        change = f"{mutant.old.splitlines()[-1].strip()} -> {mutant.new.splitlines()[-1].strip()}"
        print(f"  {'killed  ' if killed else 'SURVIVED'} {mutant.path}: {change}")
    return [m for m, killed in zip(CONSTANT_MUTANTS, caught, strict=True) if not killed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reuse", action="store_true", help="keep ./mutants and its results")
    args = parser.parse_args()
    start = time.monotonic()
    run_mutmut(args.max_children, args.reuse)
    low, survivors = score_table(statuses_by_module())
    show_survivors(survivors)
    constant_survivors = constant_mutants(args.max_children)
    print(f"\n{time.monotonic() - start:.0f} s")
    if low or constant_survivors:
        sys.exit(
            f"under {THRESHOLD:.0%}: {', '.join(low) or 'none'}; "
            f"named mutants survived: {len(constant_survivors)}"
        )


if __name__ == "__main__":
    main()
