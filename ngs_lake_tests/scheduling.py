"""How the suite's tests are shared out between the xdist workers (pytest.ini: `--dist
loadscope`), so that the workers finish together.

xdist's loadscope keeps a module's tests on one worker, so a module-scoped stack starts once; but
it also (1) hands the modules out by number of tests, most first, which puts the few-test,
longest modules (the whole-system tests) last, where the suite waits on them alone, and (2) makes
a long module of independent tests (the simulation's, each building its own lake) a floor on the
suite's wall time. Here:

- a module that declares no fixture wider than a test (no `scope="module"`, `"class"` or
  `"package"` in its source) is shared out test by test; one that does stays whole on one worker;
- units are handed out in collection order, which `longest_first` sorts by `ESTIMATED_SECONDS`:
  the long units start first and the short ones fill in at the end.

An estimate that goes stale costs only wall time, never a result: re-measure with
`pytest --durations=80` and update the table when a unit moves far.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

REPO = Path(__file__).resolve().parent.parent
WIDE_SCOPES = ('scope="module"', 'scope="class"', 'scope="package"')
SLOW_DEFAULT_SECONDS = 60  # a `slow` test not in the table
# Seconds (setup + call + teardown) measured with `--durations=80` on 2 cores under load 5 to 30
# (2026-12-07): only their order matters. A key is a node id or its prefix (a module, a test
# with all its parameters); the longest key that matches an item wins.
ESTIMATED_SECONDS = {
    "ngs_lake_tests/test_system.py": 900,
    "ngs_lake_tests/test_dockerfile.py": 290,
    "ngs_lake_tests/test_deployment.py": 280,
    "ngs_lake_tests/test_run_model.py::test_a_run_with_1000_amendments": 300,
    "ngs_lake_tests/test_local_stack.py": 225,
    "ngs_lake_tests/test_simulation.py::test_fresh_derandomised": 162,
    "ngs_lake_tests/test_simulation.py::test_defect_10": 127,
    "ngs_lake_tests/test_completion.py::test_a_novaseq_x_run": 111,
    "ngs_lake_tests/test_real_runs_in_a_lake.py": 99,
    "ngs_lake_tests/test_local_shutdown.py::test_local_up_started_in_the_background": 98,
    "ngs_lake_tests/test_config_in_force.py": 95,
    "ngs_lake_tests/test_alerts.py": 95,
    "ngs_lake_tests/test_completion.py::test_two_concurrent_runs": 77,
    "ngs_lake_tests/test_local_shutdown.py::test_local_up_leaves_nothing_running[SIGKILL-": 77,
    "ngs_lake_tests/test_daemon.py": 73,
    "ngs_lake_tests/test_provisioning_approval.py": 65,
    "ngs_lake_tests/test_properties.py": 60,
    "ngs_lake_tests/test_simulation.py::test_a_publish_given_up": 58,
    "ngs_lake_tests/test_event_queues.py::test_a_real_daemon": 51,
    "ngs_lake_tests/test_completion.py::test_an_object_withheld": 46,
    "ngs_lake_tests/test_simulation.py::test_defect_14": 45,
    "ngs_lake_tests/test_local_shutdown.py::test_demo_leaves_nothing_running": 42,
    "ngs_lake_tests/test_completion.py::test_marker_race": 44,
    "ngs_lake_tests/test_gateway_isolation.py": 40,
    "ngs_lake_tests/test_definitions.py::test_dagster_definitions_validate": 39,
    "ngs_lake_tests/test_lifecycle_in_tick.py::test_a_small_run": 37,
}


def estimated_seconds(item: pytest.Item) -> float:
    keys = [key for key in ESTIMATED_SECONDS if item.nodeid.startswith(key)]
    if keys:
        return ESTIMATED_SECONDS[max(keys, key=len)]
    return SLOW_DEFAULT_SECONDS if item.get_closest_marker("slow") is not None else 0


def longest_first(items: list[pytest.Item]) -> None:
    """Sort in place, longest first; stable, so a module's tests keep their order."""
    items.sort(key=lambda item: -estimated_seconds(item))


@cache
def keeps_whole(module: str) -> bool:
    """A module with a fixture wider than one test runs on one worker, so that fixture starts
    once (xdist tears a module's fixtures down whenever the next test is from another module)."""
    path = REPO / module
    return not path.is_file() or any(scope in path.read_text() for scope in WIDE_SCOPES)


class SpreadLoadScopeScheduling(LoadScopeScheduling):
    """loadscope with each module that can be split given out test by test, in collection order
    (longest first) instead of by number of tests."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return super()._split_scope(nodeid) if keeps_whole(module) else nodeid


def make_scheduler(config: pytest.Config, log: object) -> LoadScopeScheduling | None:
    if config.getvalue("dist") != "loadscope":
        return None  # `-n 0`, or another --dist given on the command line
    config.option.loadscopereorder = False  # keep `longest_first`'s order
    return SpreadLoadScopeScheduling(config, log)
