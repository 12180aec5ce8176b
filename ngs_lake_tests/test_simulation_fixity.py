"""Fixity in the run-core simulation (issue #33): one scripted schedule of the fixity actions,
settled under every invariant, the new one included ("fixity recorded, never assumed",
simulation/fixity.py); the fresh schedules of test_simulation.py draw the same actions at random.

Two runs on two sequencers: one whose POD5 the instrument left unhashed and whose first files the
gateway uploaded without any checksum (it completes, both listed as such); one whose hashed file
the break-glass role changes in S3 before verification (it never completes)."""

from ngs_lake.runs.fixity_instrument import NOT_HASHED
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.model import RunState
from ngs_lake_tests.simulation.machine import LakeSimulation

A01, B01 = "PRM-A01", "PRM-B01"


def test_unhashed_and_unchecksummed_files_are_listed_and_a_changed_one_never_completes():
    sim = LakeSimulation()
    sim.setup(seed=7)
    try:
        sim.start_run(A01)
        sim.uploads_without_checksum(4)
        sim.write_files(0, 2)
        sim.write_output_hash(0, hash_pod5=False)
        sim.write_marker(0)
        sim.start_run(B01)
        keys = sorted(sim.world.runs)
        changed = keys.index(next(k for k in keys if k.startswith(B01)))
        sim.write_files(changed, 2)
        sim.write_output_hash(changed, hash_pod5=True)
        sim.advance(60)
        sim.corrupt_in_s3(changed)
        sim.write_marker(changed)
        sim.advance(600)
        sim.settle()
        runs = {run.run_key.split("/")[0]: run for run in sim.judge.runs()}
        assert runs[A01].state == RunState.COMPLETED
        store = FixityRecordStore(sim.lake.inspect["s3"], sim.lake.config.lake.catalog_bucket)
        record = store.read(runs[A01].run_key)
        pod5 = [o for o in record.objects if o.path.endswith(".pod5")]
        assert len(pod5) == 3 and {o.instrument_result for o in pod5} == {NOT_HASHED}
        assert record.without_checksum  # the bare uploads, listed, not skipped
        assert runs[B01].state != RunState.COMPLETED
        assert any("sha256" in reason for reason in runs[B01].verification.reasons)
    finally:
        sim.lake.close()
