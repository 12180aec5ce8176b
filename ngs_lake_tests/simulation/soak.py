"""`make soak`: the simulation for a set time from an empty example database, searching (no
stored examples). Each failure is shrunk and printed, then its kind is set aside (KNOWN) and
the search goes on, so one soak reports every kind of failure it reaches. At the end: examples
run, steps per second, how often each invariant was checked and each action and fault taken.
With --stop-at-first it ends at the first failure found (defect_hunt.py times how soon the
search finds a defect put back on purpose); `first detected` is when that failure was first
raised, before Hypothesis shrank it.

    python -m ngs_lake_tests.simulation.soak --minutes 10 [--stop-at-first]
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

from ngs_lake_tests.simulation import invariants, machine
from ngs_lake_tests.simulation.invariants import KNOWN, KNOWN_LIMITS, signature
from ngs_lake_tests.simulation.machine import STATS, LakeSimulation

STEPS_PER_EXAMPLE = 30
# (wall, CPU) when the first failure was raised: on a shared machine the soak's own CPU time
# says how much search it took, the wall clock how long it waited for a core.
FIRST_DETECTED: list[tuple[float, float]] = []


def _timing_violations() -> None:
    """Note when a failure is first raised (before shrinking) by wrapping `violate` where the
    machine and the judges look it up (the folder and document judges are handed the
    invariants module's)."""
    raise_failure = invariants.violate

    def violate(invariant: str, detail: str) -> None:
        try:
            raise_failure(invariant, detail)
        except AssertionError:
            if not FIRST_DETECTED:
                FIRST_DETECTED.append((time.monotonic(), time.process_time()))
            raise

    invariants.violate = violate
    machine.violate = violate


def soak(
    minutes: float,
    seed: int | None,
    shrink_seconds: int,
    stop_at_first: bool = False,
    past_known_limits: bool = False,
    cpu_budget: bool = False,
) -> int:
    # Hypothesis shrinks a failure for up to 5 minutes, which a loaded machine spends on one
    # failure; a soak prefers a shorter counterexample budget and more search (a private knob).
    engine.MAX_SHRINKING_SECONDS = shrink_seconds
    # On a shared machine the wall clock gives the search whatever CPU is left; `cpu_budget`
    # counts the soak's own CPU time instead, as a dedicated core would give it.
    budget_clock = time.process_time if cpu_budget else time.monotonic
    deadline = budget_clock() + minutes * 60
    started, cpu_started = time.monotonic(), time.process_time()
    rng = random.Random(seed)
    database = DirectoryBasedExampleDatabase(tempfile.mkdtemp(prefix="soak-examples-"))
    found = []
    if past_known_limits:  # each stored as a strict xfail already
        KNOWN.update(signature(message) for message in KNOWN_LIMITS)
    _timing_violations()
    while budget_clock() < deadline and not (stop_at_first and found):
        batch = settings(
            max_examples=10,  # the budget is checked between batches (20 overran it under load)
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
                if FIRST_DETECTED and len(found) == 1:
                    wall, cpu = FIRST_DETECTED[0]
                    print(
                        f"first detected: {wall - started:.1f} s ({cpu - cpu_started:.1f} s CPU)",
                        flush=True,
                    )
                for line in getattr(one, "__notes__", []):  # the shrunk steps, as code
                    print(f"    {line}", flush=True)
    elapsed = time.monotonic() - started
    print(
        f"\n--- soak: {elapsed / 60:.1f} min ({(time.process_time() - cpu_started) / 60:.1f} "
        f"min CPU), {STATS['examples']} examples, "
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
    parser.add_argument(
        "--stop-at-first", action="store_true", help="end at the first failure found, shrunk"
    )
    parser.add_argument(
        "--past-known-limits",
        action="store_true",
        help="search past the known limits stored as strict xfails (invariants.KNOWN_LIMITS)",
    )
    parser.add_argument(
        "--cpu-budget", action="store_true", help="--minutes of the soak's own CPU time"
    )
    args = parser.parse_args()
    sys.exit(
        soak(
            args.minutes,
            args.seed,
            args.shrink_seconds,
            args.stop_at_first,
            args.past_known_limits,
            args.cpu_budget,
        )
    )


if __name__ == "__main__":
    main()
