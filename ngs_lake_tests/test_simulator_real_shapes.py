"""The simulator writes what real run folders show (ngs_lake_tests/data/real_runs) and never
reuses a run folder: run numbers advance per sequencer, as on an instrument (issue #34)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ngs_lake.platforms.illumina import RUN_FOLDER as ILLUMINA_RUN
from ngs_lake.platforms.nanopore import RUN_FOLDER as NANOPORE_RUN
from ngs_lake.simulator import RunSpec, plan_simulation, plan_unused, simulate
from ngs_lake.simulator.run_numbers import next_run_number
from ngs_lake_tests.test_simulator import cli

TINY = {"scenario": "tiny", "duration_seconds": 0, "max_file_bytes": 64, "seed": 3}


def _files(share: Path, run_folder: str) -> set[str]:
    root = share / run_folder
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_simulating_twice_never_writes_into_the_first_run(tmp_path):
    """The README's command run twice, same seed: two runs, the second numbered after the first."""
    folders = []
    for _ in range(2):
        result = cli("--platform", "miseq", "--scenario", "tiny", "--duration", "0s",
                     "--max-file-size", "1 KiB", "--into", str(tmp_path), "--force")  # fmt: skip
        assert result.returncode == 0, result.stderr
        folders.append(Path(result.stdout.split()[1]).name)
    first, second = (ILLUMINA_RUN.match(f) for f in folders)
    assert first and second and folders[0] != folders[1]
    assert int(second["number"]) == int(first["number"]) + 1


def test_an_existing_run_folder_is_refused(tmp_path):
    runs = plan_simulation(RunSpec(platform="aviti", **TINY))
    simulate(runs, tmp_path)
    with pytest.raises(ValueError, match=r"already exists .* an instrument never reuses one"):
        simulate(runs, tmp_path)
    again = plan_unused(RunSpec(platform="aviti", **TINY), tmp_path)
    assert again[0].run_folder != runs[0].run_folder


def test_run_numbers_follow_the_share_and_an_empty_share_takes_the_clock(tmp_path):
    (tmp_path / "20261207_LH00123_0865_A2202CS8LT8").mkdir()
    (tmp_path / "notes").mkdir()
    assert next_run_number(tmp_path) == 866
    assert next_run_number(tmp_path / "empty", clock=lambda: 60 * 1234) == 1235


def test_a_nextseq_550_writes_rta_complete_txt_and_its_completion_status(tmp_path):
    (run,) = plan_unused(RunSpec(platform="nextseq-550", **TINY), tmp_path)
    simulate([run], tmp_path)
    files = _files(tmp_path, run.run_folder)
    assert {"RTAComplete.txt", "RunCompletionStatus.xml"} <= files
    assert "RTAComplete.xml" not in files
    assert run.steps[-1].path.endswith("/RTAComplete.txt")


def test_a_sequel_iie_cell_has_its_transferdone_beside_its_dataset(tmp_path):
    (cell,) = plan_unused(RunSpec(platform="sequel-2", **TINY), tmp_path)
    simulate([cell], tmp_path)
    movie = cell.metadata["movie"]
    files = _files(tmp_path, cell.run_folder)
    assert {f"{movie}.transferdone", f"{movie}.consensusreadset.xml"} <= files
    assert not any(f.startswith("metadata/") for f in files)
    assert (tmp_path / cell.run_folder / f"{movie}.transferdone").read_bytes() == b""


def test_a_minion_runs_a_flongle(tmp_path):
    (run,) = plan_unused(RunSpec(platform="minion", **TINY), tmp_path)
    parts = NANOPORE_RUN.match(run.run_folder.rsplit("/", 1)[-1])
    assert parts is not None
    assert parts["position"].startswith("MN") and len(parts["flowcell"]) == 6


def test_a_revio_transferdone_lists_absolute_instrument_paths(tmp_path):
    (cell,) = plan_unused(RunSpec(platform="revio", **TINY), tmp_path)
    simulate([cell], tmp_path)
    movie = cell.metadata["movie"]
    lines = (tmp_path / cell.run_folder / f"metadata/{movie}.transferdone").read_text().splitlines()
    assert lines[0].startswith("Transfer Manifest nfiles: ")
    assert all(line.startswith(f"/data/icc/{movie}/") for line in lines[2:])
    metadata = (tmp_path / cell.run_folder / f"metadata/{movie}.metadata.xml").read_bytes()
    assert metadata.startswith(b'<?xml version="1.0" encoding="utf-16"?>')
