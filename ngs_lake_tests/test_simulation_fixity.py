"""Fixity in the run-core simulation (issue #33): scripted schedules of the fixity actions under
every invariant, the new one included ("fixity recorded, never assumed", simulation/fixity.py);
the fresh schedules of test_simulation.py draw the same actions at random."""

from ngs_lake.runs.fixity_instrument import NOT_HASHED
from ngs_lake.runs.fixity_record import FixityRecordStore
from ngs_lake.runs.model import RunState
from ngs_lake_tests.simulation.machine import LakeSimulation

A01 = "PRM-A01"


def simulate(steps) -> LakeSimulation:
    sim = LakeSimulation()
    sim.setup(seed=7)
    try:
        steps(sim)
        sim.settle()
    except BaseException:
        sim.lake.close()
        raise
    return sim


def test_unhashed_pod5_and_uploads_without_checksum_complete_listed_as_such():
    def steps(sim: LakeSimulation) -> None:
        sim.start_run(A01)
        sim.uploads_without_checksum(4)
        sim.write_files(0, 2)
        sim.write_output_hash(0, hash_pod5=False)
        sim.write_marker(0)
        sim.advance(600)

    sim = simulate(steps)
    try:
        (run,) = sim.judge.runs()
        assert run.state == RunState.COMPLETED
        store = FixityRecordStore(sim.lake.inspect["s3"], sim.lake.config.lake.catalog_bucket)
        record = store.read(run.run_key)
        pod5 = [o for o in record.objects if o.path.endswith(".pod5")]
        assert len(pod5) == 3 and {o.instrument_result for o in pod5} == {NOT_HASHED}
        assert record.without_checksum  # the bare uploads, listed, not skipped
    finally:
        sim.lake.close()


def test_a_hashed_file_changed_in_s3_before_verification_never_completes():
    def steps(sim: LakeSimulation) -> None:
        sim.start_run(A01)
        sim.write_files(0, 2)
        sim.write_output_hash(0, hash_pod5=True)
        sim.advance(60)
        sim.corrupt_in_s3(0)
        sim.write_marker(0)
        sim.advance(600)

    sim = simulate(steps)
    try:
        (run,) = sim.judge.runs()
        assert run.state != RunState.COMPLETED
        assert any("sha256" in reason for reason in run.verification.reasons)
    finally:
        sim.lake.close()
