"""Each invariant, broken on purpose in the product code, is reported by its own name (issue #30).

A sample of one in the suite (a scenario takes seconds; all 15 would take minutes): the
product rule is monkeypatched, not the invariant, and the stored scenario must fail naming that
invariant and no other (`breaks`). The exhaustive check, one patch per invariant applied to a
worktree of HEAD: `python -m ngs_lake_tests.simulation.defect_hunt --invariants`."""

import pytest

from ngs_lake.runs.ingest import GatewayEventIngest
from ngs_lake_tests.simulation.invariants import REDELIVERY
from ngs_lake_tests.test_simulation import breaks, completed_run


def _every_file_late(self, files, known):
    """Defect 2's rule: every file of the batch is late, the ledger's own paths included."""
    late: dict[str, list[str]] = {}
    for row in files:
        late.setdefault(row.run_key, []).append(row.path)
    return files, late


def test_a_redelivery_counted_as_late_is_reported_as_redelivery(monkeypatch):
    monkeypatch.setattr(GatewayEventIngest, "_new_to_ledger", _every_file_late)

    def steps(sim):
        completed_run(sim)
        sim.replay_event(0, 1)
        sim.advance(60)

    with pytest.raises(AssertionError, match=f"^{REDELIVERY}: "):
        breaks(REDELIVERY, steps)
