"""`make soak`: the simulation for a set time from an empty example database, searching (no
stored examples). Each failure is shrunk and printed, then its kind is set aside (KNOWN) and
the search goes on, so one soak reports every kind of failure it reaches. At the end: examples
run, steps per second, how often each invariant was checked and each action and fault taken.

    python -m ngs_lake_tests.simulation.soak --minutes 10
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import run_state_machine_as_test

from ngs_lake_tests.simulation.invariants import KNOWN, signature
from ngs_lake_tests.simulation.machine import STATS, LakeSimulation

STEPS_PER_EXAMPLE = 30


def soak(minutes: float, seed: int | None, shrink_seconds: int) -> int:
    # Hypothesis shrinks a failure for up to 5 minutes, which a loaded machine spends on one
    # failure; a soak prefers a shorter counterexample budget and more search (a private knob).
    engine.MAX_SHRINKING_SECONDS = shrink_seconds
    deadline = time.monotonic() + minutes * 60
    started = time.monotonic()
    rng = random.Random(seed)
    database = DirectoryBasedExampleDatabase(tempfile.mkdtemp(prefix="soak-examples-"))
    found = []
    while time.monotonic() < deadline:
        batch = settings(
            max_examples=20,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            database=database,
            derandomize=False,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        random.seed(rng.getrandbits(64))
        try:
            run_state_machine_as_test(LakeSimulation, settings=batch)
        except BaseException as failure:
            if isinstance(failure, KeyboardInterrupt):
                raise
            group = failure.exceptions if isinstance(failure, BaseExceptionGroup) else [failure]
            for one in group:
                message = str(one).splitlines()[0] if str(one) else type(one).__name__
                KNOWN.add(signature(message))
                found.append(message)
                print(f"\n=== FOUND ({time.monotonic() - started:.0f} s): {message}", flush=True)
                for line in getattr(one, "__notes__", []):  # the shrunk steps, as code
                    print(f"    {line}", flush=True)
    elapsed = time.monotonic() - started
    print(
        f"\n--- soak: {elapsed / 60:.1f} min, {STATS['examples']} examples, "
        f"{STATS['steps']} steps, {STATS['steps'] / elapsed:.1f} steps/s, "
        f"quiescence reached {STATS['quiescence reached']} times"
    )
    print("invariants checked:")
    for name, n in sorted(STATS.items()):
        if name.startswith("invariant checked: "):
            print(f"  {n:8d}  {name.removeprefix('invariant checked: ')}")
    print("actions and faults exercised:")
    for name, n in sorted(STATS.items()):
        if not name.startswith("invariant checked: ") and name not in ("examples", "steps"):
            print(f"  {n:8d}  {name}")
    print(f"failures found: {len(found)}")
    for message in found:
        print(f"  - {message}")
    return 1 if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--shrink-seconds", type=int, default=60)
    args = parser.parse_args()
    sys.exit(soak(args.minutes, args.seed, args.shrink_seconds))


if __name__ == "__main__":
    main()
