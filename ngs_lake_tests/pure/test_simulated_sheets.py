"""The simulator's sample sheets (issue #31): read by the lake's own readers, valid against the
run's own RunInfo, in the format each instrument's software writes; `sheet-revised` writes the
sheet again after the marker."""

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.sample_sheet_readers import is_sample_sheet, read_sample_sheet
from ngs_lake.simulator import RunSpec, plan_simulation


def _sheets(platform: str, scenario: str = "normal"):
    run = plan_simulation(RunSpec(platform=platform, scenario=scenario, seed=5))[0]
    family = family_of(platform)
    relative = [(s, s.path.removeprefix(f"{run.run_folder}/")) for s in run.steps]
    facts = family.read_facts(
        platform,
        {p: s.content for s, p in relative if s.content and family.is_fact_file(platform, p)},
    )
    found = [
        (s.at, p, read_sample_sheet(platform, p, s.content, facts.geometry))
        for s, p in relative
        if s.content is not None and is_sample_sheet(platform, p)
    ]
    markers = [
        s.at for s, p in relative if family.is_completion_marker(platform, family.locate(s.path))
    ]
    return found, max(markers)


@pytest.mark.parametrize(
    ("platform", "fmt"),
    [
        ("miseq", "illumina-v1"),
        ("novaseq-x", "illumina-v2"),
        ("nextseq-2000", "illumina-v2"),
        ("aviti", "element-run-manifest"),
        ("promethion", "nanopore-sample-sheet"),
        ("revio", "pacbio-metadata"),
        ("sequel-2", "pacbio-metadata"),
    ],
)
def test_each_family_writes_a_sheet_the_lake_reads_as_valid(platform, fmt):
    found, _ = _sheets(platform)
    sheet = found[0][2]
    assert (sheet.format.value, sheet.status.value) == (fmt, "ok")
    assert sheet.samples and (platform in ("revio", "sequel-2") or sheet.projects)


def test_a_nanopore_final_summary_names_its_sample_and_protocol_group():
    found, _ = _sheets("promethion")
    summary = next(s for _, path, s in found if path.startswith("final_summary_"))
    assert summary.samples[0].sample_id.startswith("sample_")
    assert summary.projects == ["sim_experiment"]


@pytest.mark.parametrize("platform", ["novaseq-x", "miseq", "aviti", "gridion"])
def test_sheet_revised_writes_a_new_version_after_the_marker(platform):
    found, marker_at = _sheets(platform, "sheet-revised")
    first, second = [f for f in found if not f[1].startswith("final_summary_")]
    assert first[1] == second[1] and second[0] > marker_at
    names = [{s.sample_id for s in f[2].samples} for f in (first, second)]
    assert names[0] != names[1] and second[2].status.value == "ok"
