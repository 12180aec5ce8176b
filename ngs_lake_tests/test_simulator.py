"""The simulator writes what the recognisers recognise, in each instrument's real order."""

import fnmatch
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from ngs_lake.platforms import PLATFORM_IDS, family_of
from ngs_lake.platforms.illumina import parse_run_info
from ngs_lake.simulator import RunSpec, plan_simulation, simulate
from ngs_lake.simulator.writer import execute
from ngs_lake_tests.conftest import SMALL_CONFIG

FAST = {"scale": 0.01, "duration_seconds": 0, "seed": 7, "max_file_bytes": 2048}


def files_of(share: Path, run_folder: str) -> dict[str, bytes]:
    root = share / run_folder
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def check(platform: str, run_folder: str, files: dict[str, bytes]):
    """What ingest would do: pick metadata and marker files, parse, and check expected files."""
    family = family_of(platform)
    wanted = {
        name: data
        for name, data in files.items()
        if any(fnmatch.fnmatch(name, p) for p in family.metadata_paths(platform, run_folder))
        or family.is_completion_marker(platform, family.locate(f"{run_folder}/{name}"))
    }
    report = family.check_expected_files(platform, run_folder, wanted, set(files))
    return family.parse_metadata(platform, wanted), report


@pytest.mark.parametrize("platform", PLATFORM_IDS)
def test_round_trip_every_platform(platform, tmp_path):
    runs = plan_simulation(RunSpec(platform=platform, **FAST))
    simulate(runs, tmp_path, seed=7)
    family = family_of(platform)
    for run in runs:
        files = files_of(tmp_path, run.run_folder)
        for name in files:
            assert family.locate(f"{run.run_folder}/{name}").run_folder == run.run_folder, name
        metadata, report = check(platform, run.run_folder, files)
        assert report.complete, report.summary()
        assert report.expected >= 5
        for key in ("run_id", "flowcell", "instrument"):
            if key in run.metadata:
                assert metadata[key] == run.metadata[key], key


def test_simulated_run_info_describes_the_scaled_run(tmp_path):
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", **FAST))
    simulate([run], tmp_path)
    info = parse_run_info((tmp_path / run.run_folder / "RunInfo.xml").read_bytes())
    assert info.version == 6
    assert (info.lane_count, info.surface_count, len(info.tiles)) == (2, 2, 84)
    assert [r.cycles for r in info.reads] == [33, 2, 2, 33]
    cbcls = [f for f in files_of(tmp_path, run.run_folder) if f.endswith(".cbcl")]
    assert len(cbcls) == info.lane_count * info.surface_count * info.total_cycles == 280


def test_novaseq_x_at_scale_001_has_hundreds_of_files():
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", **FAST))
    assert len(run.files) >= 300


def test_aborted_run_has_no_marker_and_names_missing_files(tmp_path):
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", scenario="aborted", **FAST))
    simulate([run], tmp_path)
    files = files_of(tmp_path, run.run_folder)
    assert "CopyComplete.txt" not in files
    _, report = check("novaseq-x", run.run_folder, files)
    assert not report.complete
    assert "CopyComplete.txt" in report.missing
    assert "Data/Intensities/BaseCalls/L002/C70.1/L002_2.cbcl" in report.missing
    assert report.summary().startswith(f"{len(report.missing)} of {report.expected} expected files")


def test_illumina_writes_in_instrument_order():
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", **{**FAST, "duration_seconds": 100}))
    order = [
        s.path.removeprefix(f"{run.run_folder}/") for s in sorted(run.steps, key=lambda s: s.at)
    ]
    assert order[:2] == ["RunInfo.xml", "RunParameters.xml"]
    assert order[-1] == "CopyComplete.txt"
    assert order.index("RTAComplete.txt") < order.index("CopyComplete.txt")
    first_filter = next(i for i, p in enumerate(order) if p.endswith(".filter"))
    cycle_26 = order.index("Data/Intensities/BaseCalls/L001/C26.1/L001_1.cbcl")
    cycle_27 = order.index("Data/Intensities/BaseCalls/L001/C27.1/L001_1.cbcl")
    assert cycle_26 < first_filter < cycle_27
    interop = [s for s in run.steps if s.path.endswith("InterOp/QMetricsOut.bin")]
    assert len(interop) > 5 and {s.kind for s in interop} == {"create", "append"}


def test_large_files_grow_in_place(tmp_path):
    spec = RunSpec(platform="novaseq-x", scale=0.002, duration_seconds=10, seed=3)
    (run,) = plan_simulation(spec)
    path = f"{run.run_folder}/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl"
    writes = [s for s in run.steps if s.path == path]
    assert [w.kind for w in writes] == ["create", "append", "append", "append"]
    assert writes == sorted(writes, key=lambda s: s.at) and writes[0].at < writes[-1].at
    execute(writes, tmp_path, seed=3)
    assert (tmp_path / path).stat().st_size == sum(w.size for w in writes) > 256 * 1024


def test_marker_race_lands_before_the_last_data():
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", scenario="marker-race", **FAST))
    marker = next(s for s in run.steps if s.path.endswith("CopyComplete.txt"))
    last_data = max(s.at for s in run.steps if s.path.endswith(".cbcl"))
    assert marker.at < last_data


def test_stalled_run_pauses_then_resumes():
    spec = RunSpec(
        platform="miseq",
        scenario="stalled-then-resumed",
        stall_seconds=45,
        **{**FAST, "duration_seconds": 60},
    )
    (run,) = plan_simulation(spec)
    times = sorted(s.at for s in run.steps)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) >= 45
    assert run.completion_marker == "RTAComplete.txt"


def test_rewritten_files_change_content(tmp_path):
    (run,) = plan_simulation(RunSpec(platform="nextseq-2000", scenario="rewritten", **FAST))
    rewritten = {s.path for s in run.steps if s.kind == "replace"}
    assert f"{run.run_folder}/RunInfo.xml" in rewritten
    simulate([run], tmp_path)
    first = next(s for s in run.steps if s.path == f"{run.run_folder}/RunInfo.xml")
    assert (tmp_path / first.path).read_bytes() != first.content
    assert parse_run_info((tmp_path / first.path).read_bytes()).run_id == run.run_folder


def test_concurrent_flow_cells_share_one_folder_and_both_complete(tmp_path):
    runs = plan_simulation(RunSpec(platform="novaseq-x", scenario="concurrent", **FAST))
    assert len(runs) == 2
    a, b = runs
    assert a.run_folder.split("_")[-1].startswith("A")
    assert b.run_folder.split("_")[-1].startswith("B")
    assert a.run_folder.split("_")[1] == b.run_folder.split("_")[1]
    simulate(runs, tmp_path)
    for run in runs:
        _, report = check("novaseq-x", run.run_folder, files_of(tmp_path, run.run_folder))
        assert report.complete


def test_concurrent_needs_a_dual_flow_cell_instrument():
    with pytest.raises(ValueError, match="needs a dual flow cell instrument"):
        plan_simulation(RunSpec(platform="miseq", scenario="concurrent", **FAST))


def test_tiny_is_tiny():
    (run,) = plan_simulation(RunSpec(platform="novaseq-x", scenario="tiny", **FAST))
    assert len(run.files) < 40


def test_same_seed_same_bytes(tmp_path):
    spec = RunSpec(platform="gridion", **FAST)
    for target in ("a", "b"):
        simulate(plan_simulation(spec), tmp_path / target, seed=7)
    a, b = (sorted(p.relative_to(tmp_path / t) for p in (tmp_path / t).rglob("*")) for t in "ab")
    assert a == b
    assert all(
        (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes()
        for p in a
        if (tmp_path / "a" / p).is_file()
    )


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", "simulate", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_writes_a_run_and_says_where(tmp_path):
    result = cli(
        "--platform",
        "aviti",
        "--duration",
        "0s",
        "--max-file-size",
        "1 KiB",
        "--into",
        str(tmp_path),
        "--force",  # a plain folder, not a share of a local lake
    )
    assert result.returncode == 0, result.stderr
    platform, folder = result.stdout.split()
    assert platform == "aviti"
    assert (Path(folder) / "RunUploaded.json").is_file()
    assert "wrote" in result.stderr
    assert "[" not in result.stderr  # no progress bar when stderr is not a terminal


def test_cli_takes_platform_from_the_sequencer(tmp_path):
    result = cli(
        "--sequencer",
        "PRM-MAD-01",
        "--config",
        str(SMALL_CONFIG),
        "--scale",
        "0.001",
        "--scenario",
        "tiny",
        "--max-file-size",
        "128 B",
        "--into",
        str(tmp_path),
        "--force",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("promethion ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sequencer", "NVX-MAD-01", "--duration", "5s"], "drop --duration"),
        (["--sequencer", "NOPE-01"], "unknown sequencer 'NOPE-01'"),
        (["--platform", "miseq", "--duration", "soon"], "cannot read 'soon' as a duration"),
        (["--platform", "miseq", "--max-file-size", "big"], "cannot read 'big' as a size"),
    ],
)
def test_cli_refuses_bad_options_with_a_reason(tmp_path, args, message):
    result = cli(*args, "--config", str(SMALL_CONFIG), "--into", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr


def test_the_lab_cycles_through_the_mix_on_the_lakes_own_sequencers(tmp_path):
    from ngs_lake.config.document import load_lake_config
    from ngs_lake.simulator.lab import LabSettings, plan_lab
    from ngs_lake_tests.conftest import SHIPPED_CONFIG

    config = load_lake_config(SHIPPED_CONFIG)
    runs = plan_lab(
        config,
        tmp_path,
        LabSettings(platforms=("novaseq-x", "miseq"), runs=4, stagger_seconds=10, scale=0.001),
    )
    # novaseq-x, miseq, novaseq-x, miseq: each platform's sequencers taken in document order.
    assert [(r.sequencer_id, r.run.platform, r.start_after_seconds) for r in runs] == [
        ("NVX-BOS-01", "novaseq-x", 0),
        ("MIS-RAL-01", "miseq", 10),
        ("NVX-RAL-01", "novaseq-x", 20),
        ("MIS-MAD-01", "miseq", 30),
    ]
    assert runs[0].share == tmp_path / "gw-bos-01" / "NVX-BOS-01"
    assert len({r.run_key for r in runs}) == 4


def test_the_lab_skips_platforms_the_lake_has_none_of(tmp_path):
    from ngs_lake.config.document import load_lake_config
    from ngs_lake.simulator.lab import LabSettings, plan_lab
    from ngs_lake_tests.conftest import SMALL_CONFIG

    config = load_lake_config(SMALL_CONFIG)  # no Revio in the small lake
    runs = plan_lab(config, tmp_path, LabSettings(platforms=("revio", "miseq"), runs=2))
    assert [r.sequencer_id for r in runs] == ["MIS-MAD-01", "MIS-MAD-01"]
    with pytest.raises(ValueError, match="no sequencer in the config runs any of: revio"):
        plan_lab(config, tmp_path, LabSettings(platforms=("revio",), runs=1))
