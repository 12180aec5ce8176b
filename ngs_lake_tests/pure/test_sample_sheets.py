"""Sample sheets read from verbatim public files (ngs_lake_tests/data/samplesheets/SOURCES.md and
data/real_runs/SOURCES.md), each expected sample and project written here by a person who read
the file, never produced by the parser under test. Sources:

- v1 IEM: medgen-mainz/elsheeto tests/data/illumina_v1/example1.csv (MIT)
- v2 BCL Convert, [Cloud_Data] and Sample_Project: umccr/v2-samplesheet-maker
  examples/outputs/cloud-sheet-with-settings.csv (MIT)
- v2 NovaSeq X, one Sample_ID on several index rows: umccr/v2-samplesheet-maker
  examples/outputs/novaseq_x_demo.csv (MIT)
- v2 NextSeq 2000 exported by BaseSpace, projects only in [Cloud_Data]: nf-core/test-datasets
  testdata/NextSeq2000/SampleSheet.csv
- Element RunManifest: medgen-mainz/elsheeto tests/data/aviti/example1.csv (MIT)
- ONT sample sheets: nf-core/test-datasets testdata/PromethION/.../sample_sheet_PAO99309_....csv
  (MinKNOW's own) and nanoporetech/dorado tests/data/sample_sheets/single_barcode.csv
- ONT final summary: EdinburghGenomics/hesiod (real_runs/20221103_EGS2_25070AT)
- PacBio: wtsi-npg/npg_irods (real_runs/r84047_20230404_164149, r64174e_20210114_161659)
"""

import pytest

from ngs_lake.platforms.sample_sheet_readers import is_sample_sheet, read_sample_sheet
from ngs_lake.platforms.sample_sheets import (
    SheetFormat,
    SheetStatus,
    SheetUnreadable,
    override_cycle_problems,
)
from ngs_lake_tests.conftest import REPO

SHEETS = REPO / "ngs_lake_tests" / "data" / "samplesheets"
RUNS = REPO / "ngs_lake_tests" / "data" / "real_runs"


def _read(platform, name, path, geometry=None):
    return read_sample_sheet(platform, name, path.read_bytes(), geometry)


def test_v1_iem_sheet():
    sheet = _read("miseq", "SampleSheet.csv", SHEETS / "elsheeto_illumina_v1_example1.csv")
    assert sheet.format == SheetFormat.ILLUMINA_V1
    assert sheet.status == SheetStatus.OK
    assert [(s.sample_id, s.project, s.lane, s.index, s.index2) for s in sheet.samples] == [
        ("L11-00001_01", None, None, "ATCACTCACA", "TTACGGTAAC"),
        ("L11-00002_01", None, None, "CGGAGGTAGA", "TTCAGATGGA"),
        ("L11-00003_01", None, None, "GAGTTGACAA", "TAGCATCTGT"),
        ("L11-00004_01", None, None, "GCCGAACTTG", "GGACGAGATC"),
    ]


def test_v2_sheet_with_cloud_data_and_sample_project():
    sheet = _read(
        "novaseq-6000",
        "SampleSheet.csv",
        SHEETS / "umccr_cloud-sheet-with-settings.csv",
        "R1:151 I1:10 I2:10 R2:151",
    )
    assert sheet.format == SheetFormat.ILLUMINA_V2
    assert sheet.status == SheetStatus.OK
    assert [(s.sample_id, s.project, s.lane, s.index, s.index2) for s in sheet.samples] == [
        ("MyFirstSample", "SampleProject", 1, "AAAAAAAAAA", "CCCCCCCC"),
        ("MySecondSample", "SampleProject", 1, "GGGGGGGGGG", "TTTTTTTT"),
        ("MyFirstSample", "SampleProject", 2, "AAAAAAAAAA", "CCCCCCCC"),
    ]
    assert sheet.projects == ["SampleProject"]


def test_v2_sheet_whose_projects_are_only_in_cloud_data():
    sheet = _read(
        "nextseq-2000",
        "SampleSheet.csv",
        SHEETS / "nfcore_NextSeq2000_SampleSheet.csv",
        "R1:28 I1:10 I2:10 R2:90",
    )
    assert sheet.status == SheetStatus.OK
    assert len(sheet.samples) == 16
    assert sheet.samples[0].sample_id == "SingleCell-RNA-P3-2-SI-TT-A5"
    assert sheet.samples[-1].sample_id == "SingleCell-RNA-P3-2-SI-TT-H6"
    assert (sheet.samples[-1].index, sheet.samples[-1].index2) == ("CCTATCCTCG", "GAATACTAAC")
    assert sheet.projects == ["SingleCell-RNA_P3_2"]


def test_v2_override_cycles_that_disagree_with_runinfo_make_the_sheet_invalid():
    path = SHEETS / "nfcore_NextSeq2000_SampleSheet.csv"
    sheet = _read("nextseq-2000", "SampleSheet.csv", path, "R1:28 I1:8 I2:8 R2:90")
    assert sheet.status == SheetStatus.INVALID
    assert sheet.problems == [
        "OverrideCycles 'U28;I10;I10;Y90' gives 4 reads of [28, 10, 10, 90] cycles; "
        "RunInfo has [28, 8, 8, 90]"
    ]
    assert "SingleCell" not in sheet.reason  # no sample name in what is logged or alerted


def test_cg_4802_a_missing_read_in_override_cycles_is_invalid():
    assert override_cycle_problems(["Y151;I10;I10"], "R1:151 I1:10 I2:10 R2:151") != []
    assert override_cycle_problems(["Y151;I8N2;N2I8;Y151"], "R1:151 I1:10 I2:10 R2:151") == []


def test_a_sample_id_twice_in_one_lane_is_invalid_and_named_by_rows_only():
    sheet = _read(
        "novaseq-x",
        "SampleSheet.csv",
        SHEETS / "umccr_novaseq_x_demo.csv",
        "R1:151 I1:10 I2:10 R2:151",
    )
    assert len(sheet.samples) == 24
    assert sheet.status == SheetStatus.INVALID
    assert sheet.problems[0] == "Sample_ID repeated in lane 1 (rows 1 and 2)"
    assert "NA12878" not in sheet.reason


def test_indexes_within_the_allowed_mismatches_collide():
    text = (SHEETS / "umccr_cloud-sheet-with-settings.csv").read_bytes()
    # Row 2's index moved to 2 mismatches of row 1's: with BarcodeMismatchesIndex1,1 a read one
    # mismatch from each matches both.
    clash = text.replace(
        b"1,MySecondSample,GGGGGGGGGG,TTTTTTTT", b"1,MySecondSample,AAAAAAAAGG,CCCCCCTT"
    )
    sheet = read_sample_sheet("novaseq-6000", "SampleSheet.csv", clash, None)
    assert sheet.problems == [
        "indexes of rows 1 and 2 in lane 1 are within 1+1 mismatches of each other"
    ]
    far = text.replace(
        b"1,MySecondSample,GGGGGGGGGG,TTTTTTTT", b"1,MySecondSample,AAAAAAAGGG,CCCCCCTT"
    )
    assert read_sample_sheet("novaseq-6000", "SampleSheet.csv", far, None).problems == []


def test_element_run_manifest():
    sheet = _read("aviti", "RunManifest.csv", SHEETS / "elsheeto_aviti_example1_RunManifest.csv")
    assert sheet.format == SheetFormat.ELEMENT
    assert [(s.sample_id, s.project, s.lane, s.index, s.index2) for s in sheet.samples] == [
        ("Sample_1", "Library_Pool_1", 1, "CCC", "AAA"),
        ("Sample_2", "Library_Pool_1", 1, "TTT", "GGG"),
        ("Sample_3", "Library_Pool_2", 2, "AAA", "GGG"),
    ]


def test_minknow_sample_sheet():
    name = "sample_sheet_PAO99309_20230505_1903_94e07fab.csv"
    sheet = _read("promethion", name, SHEETS / name)
    assert sheet.format == SheetFormat.NANOPORE_SHEET
    assert [(s.sample_id, s.project) for s in sheet.samples] == [
        ("hg001", "r10p41_e8p2_human_runs_jkw")
    ]


def test_barcoded_ont_sample_sheet_names_each_alias():
    sheet = _read("gridion", "sample_sheet_FA026858.csv", SHEETS / "dorado_single_barcode.csv")
    assert [(s.sample_id, s.index) for s in sheet.samples] == [
        ("patient_id_5", "barcode01"),
        ("patient_id_6", "barcode02"),
        ("patient_id_7", "barcode03"),
        ("patient_id_8", "barcode04"),
        ("patient_id_1", "barcode05"),
        ("patient_id_2", "barcode06"),
        ("patient_id_3", "barcode07"),
        ("patient_id_4", "barcode08"),
    ]
    assert sheet.projects == ["sequencing_20200522"]


def test_nanopore_final_summary_sample_and_protocol_group():
    folder = RUNS / "20231107_MIN2_26171SS/26171SS0001L02/20231108_1411_MN32284_AOZ898_35873099"
    name = "final_summary_AOZ898_35873099_e8dfad65.txt"
    sheet = _read("minion", name, folder / name)
    assert sheet.format == SheetFormat.NANOPORE_SUMMARY
    assert [(s.sample_id, s.project) for s in sheet.samples] == [("26171SS0001L02", "26171SS")]


def test_revio_well_sample_and_biosample():
    name = "metadata/m84047_230404_175159_s3.metadata.xml"
    sheet = _read("revio", name, RUNS / "r84047_20230404_164149/1_C01" / name)
    assert [(s.sample_id, s.library) for s in sheet.samples] == [("DTOL13384046", "TRAC-2-3120")]
    name = "metadata/m84047_230404_164952_s1.metadata.xml"
    sheet = _read("revio", name, RUNS / "r84047_20230404_164149/1_A01" / name)
    assert [(s.sample_id, s.library, s.index) for s in sheet.samples] == [
        ("PBcontrol13657123", "TRAC-2-3723", "bc2073--bc2073")
    ]


def test_sequel_well_sample_without_biosamples_is_the_sample():
    name = "m64174e_210114_162751.consensusreadset.xml"
    sheet = _read("sequel-2", name, RUNS / "r64174e_20210114_161659/1_A01" / name)
    assert [(s.sample_id, s.library) for s in sheet.samples] == [("DN674079A-B2", "DN674079A-B2")]


@pytest.mark.parametrize(
    ("platform", "name", "data", "says"),
    [
        ("novaseq-x", "SampleSheet.csv", b"\xff\xfe\x00garbage", "not UTF-8"),
        ("novaseq-x", "SampleSheet.csv", b"[Header]\nFileFormatVersion,2\n", "BCLConvert_Data"),
        ("aviti", "RunManifest.csv", b"[Settings]\nR1Adapter,AAA\n", "[samples]"),
        ("promethion", "final_summary_PAM83464_136e9f68_a6bd7a6d.txt", b"flow_cell_id=X\n", "no"),
        ("revio", "metadata/m1.metadata.xml", b"<Collection/>", "no WellSample"),
    ],
)
def test_unreadable_sheets_say_why(platform, name, data, says):
    with pytest.raises(SheetUnreadable) as raised:
        read_sample_sheet(platform, name, data)
    assert name in str(raised.value) and says in str(raised.value)


def test_which_files_are_sample_sheets():
    assert is_sample_sheet("novaseq-x", "SampleSheet.csv")
    assert not is_sample_sheet("novaseq-x", "Data/SampleSheet.csv")
    assert is_sample_sheet("aviti", "RunManifest.csv")
    assert not is_sample_sheet("aviti", "RunManifest.json")
    assert is_sample_sheet("promethion", "sample_sheet_PAO99309_20230505_1903_94e07fab.csv")
    assert is_sample_sheet("promethion", "final_summary_PAM83464_136e9f68_a6bd7a6d.txt")
    assert is_sample_sheet("revio", "metadata/m84047_230404_164952_s1.metadata.xml")
