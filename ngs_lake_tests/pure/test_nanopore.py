"""Oxford Nanopore runs as MinKNOW writes them: `<experiment>/<sample>/<run>`, POD5 and FASTQ
through the run, then `output_hash_*.csv`, then `final_summary_*.txt` last."""

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import ExpectedFilesReport, PlatformFileError, RunLocation
from ngs_lake.platforms.nanopore import (
    final_summary_name,
    output_hash_name,
    parse_final_summary,
    parse_output_hash,
    run_stem,
)

ONT = family_of("promethion")
RUN = "exp1/sampleA/20231116_1503_1A_PAQ12345_3f2a1b9c"
STEM = "PAQ12345_3f2a1b9c_a1b2c3d4"
SUMMARY = f"final_summary_{STEM}.txt"
HASHES = f"output_hash_{STEM}.csv"
# A final_summary with the keys MinKNOW writes, in its order (the values are made up).
SUMMARY_TEXT = (
    b"instrument=PC24B149\n"
    b"position=1A\n"
    b"flow_cell_id=PAQ12345\n"
    b"sample_id=sampleA\n"
    b"protocol_group_id=exp1\n"
    b"protocol=sequencing/sequencing_PRO114_DNA_e8_2_400K:FLO-PRO114M:SQK-LSK114:400\n"
    b"protocol_run_id=3f2a1b9c-1d2e-4f5a-8b9c-0d1e2f3a4b5c\n"
    b"acquisition_run_id=a1b2c3d4e5f60718293a4b5c6d7e8f9011223344\n"
    b"started=2023-11-16T15:03:12.123456+00:00\n"
    b"acquisition_stopped=2023-11-19T15:03:40.654321+00:00\n"
    b"processing_stopped=2023-11-19T15:05:01.000000+00:00\n"
    b"basecalling_enabled=1\n"
    b"sequencing_summary_file=sequencing_summary_PAQ12345_3f2a1b9c_a1b2c3d4.txt\n"
    b"fast5_files_in_final_dest=0\n"
    b"fast5_files_in_fallback=0\n"
    b"pod5_files_in_final_dest=2\n"
    b"pod5_files_in_fallback=0\n"
    b"fastq_files_in_final_dest=2\n"
    b"fastq_files_in_fallback=0\n"
)


def test_names_are_built_from_flow_cell_protocol_and_acquisition():
    assert run_stem("PAQ12345", "3f2a1b9c", "a1b2c3d4") == STEM
    assert final_summary_name(STEM) == SUMMARY
    assert output_hash_name(STEM) == HASHES


def test_a_run_is_three_folders_deep():
    assert ONT.locate(f"{RUN}/pod5_pass/PAQ12345_3f2a1b9c_0.pod5") == RunLocation(
        RUN, "pod5_pass/PAQ12345_3f2a1b9c_0.pod5"
    )
    assert ONT.run_depth == 3


@pytest.mark.parametrize(
    ("relative", "is_marker"),
    [
        (SUMMARY, True),
        (f"sequencing_summary_{STEM}.txt", False),
        ("final_summary_PAQ12345_3f2a1b9c_a1b2c3d4.csv", False),
        (f"other/{SUMMARY}", False),
        ("final_summary_*.txt", False),
    ],
)
def test_the_final_summary_is_the_marker(relative, is_marker):
    assert ONT.is_completion_marker("gridion", RunLocation(RUN, relative)) is is_marker
    assert ONT.completion_marker("gridion", RUN) == "final_summary_*.txt"


def test_metadata_is_the_summary_and_the_hash_list():
    assert ONT.metadata_paths("promethion", RUN) == (
        "final_summary*.txt",
        "summary/final_summary.txt",
        "output_hash_*.csv",
    )


def test_the_summary_is_key_value_lines():
    values = parse_final_summary(b"flow_cell_id = PAQ12345\n\n  \nprotocol_run_id=x=y \n")
    assert values == {"flow_cell_id": "PAQ12345", "protocol_run_id": "x=y"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"flow_cell_id=PAQ12345\ngarbage\n", "final_summary: line 2 is not key=value: 'garbage'"),
        (b"=PAQ12345\n", "final_summary: line 1 is not key=value: '=PAQ12345'"),
        (b"protocol_run_id=x\n", "final_summary: no flow_cell_id= line"),
        (b"flow_cell_id=PAQ12345\n", "final_summary: no protocol_run_id= line"),
        (b"flow_cell_id=\xff\n", "final_summary: not UTF-8 text"),
    ],
)
def test_a_broken_summary_is_named(data, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_final_summary(data)
    assert str(caught.value) == message


def test_the_hash_list_maps_each_file_to_its_sha256():
    data = (
        b"filename,sha256\n"
        b"pod5/a.pod5,9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
        b"broken-row\n"
        b"fastq_pass/a.fastq.gz,60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752\n"
    )
    assert parse_output_hash(data) == {
        "pod5/a.pod5": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "fastq_pass/a.fastq.gz": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
    }
    assert parse_output_hash(b" filename , sha256 \n") == {}


@pytest.mark.parametrize("data", [b"", b"file,sha256\n", b"filename\n"])
def test_a_hash_list_needs_its_header(data):
    with pytest.raises(PlatformFileError) as caught:
        parse_output_hash(data)
    assert str(caught.value) == "output_hash: the header must be 'filename,sha256'"


def test_metadata_keeps_the_summarys_run_facts():
    metadata = ONT.parse_metadata("promethion", {SUMMARY: SUMMARY_TEXT, HASHES: b""})
    assert metadata == {
        "instrument": "PC24B149",
        "position": "1A",
        "flow_cell_id": "PAQ12345",
        "sample_id": "sampleA",
        "protocol_group_id": "exp1",
        "protocol": "sequencing/sequencing_PRO114_DNA_e8_2_400K:FLO-PRO114M:SQK-LSK114:400",
        "protocol_run_id": "3f2a1b9c-1d2e-4f5a-8b9c-0d1e2f3a4b5c",
        "acquisition_run_id": "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344",
        "started": "2023-11-16T15:03:12.123456+00:00",
        "acquisition_stopped": "2023-11-19T15:03:40.654321+00:00",
        "processing_stopped": "2023-11-19T15:05:01.000000+00:00",
        "basecalling_enabled": "1",
        "pod5_files_in_final_dest": "2",
        "fastq_files_in_final_dest": "2",
        "flowcell": "PAQ12345",
        "run_id": "3f2a1b9c-1d2e-4f5a-8b9c-0d1e2f3a4b5c",
    }


def test_metadata_without_a_summary_is_empty():
    assert ONT.parse_metadata("promethion", {HASHES: b"filename,sha256\n"}) == {}


def test_a_summary_alone_needs_only_itself_and_its_counts():
    files = {SUMMARY: b"flow_cell_id=PAQ12345\nprotocol_run_id=x\n"}
    report = ONT.check_expected_files("promethion", RUN, files, {SUMMARY})
    assert report == ExpectedFilesReport(1, ())


def test_without_a_summary_only_the_summary_is_expected():
    report = ONT.check_expected_files("promethion", RUN, {HASHES: b"filename,sha256\n"}, set())
    assert report == ExpectedFilesReport(1, ("final_summary_*.txt",))


def test_every_file_of_the_hash_list_is_expected():
    hashes = b"filename,sha256\npod5/a.pod5,aa\npod5/b.pod5,bb\nfastq_pass/a.fastq.gz,cc\n"
    files = {SUMMARY: b"flow_cell_id=PAQ12345\nprotocol_run_id=x\n", HASHES: hashes}
    present = {SUMMARY, HASHES, "pod5/a.pod5", "fastq_pass/a.fastq.gz"}
    report = ONT.check_expected_files("promethion", RUN, files, present)
    assert report == ExpectedFilesReport(5, ("pod5/b.pod5",))


def test_summary_counts_equal_to_the_files_present_are_complete():
    present = {SUMMARY, "pod5/a.pod5", "pod5/b.pod5", "fastq/a.fastq", "fastq/b.fastq.gz"}
    report = ONT.check_expected_files("promethion", RUN, {SUMMARY: SUMMARY_TEXT}, present)
    assert report == ExpectedFilesReport(1, ())


def test_summary_counts_catch_files_the_hash_list_never_named():
    present = {SUMMARY, "pod5/a.pod5", "fastq/a.fastq", "pod5/a.pod5.tmp"}
    report = ONT.check_expected_files("promethion", RUN, {SUMMARY: SUMMARY_TEXT}, present)
    assert report == ExpectedFilesReport(
        1,
        (
            "pod5_files_in_final_dest=2 but 1 present",
            "fastq_files_in_final_dest=2 but 1 present",
        ),
    )


def test_an_empty_count_expects_no_files():
    summary = b"flow_cell_id=PAQ12345\nprotocol_run_id=x\npod5_files_in_final_dest=\n"
    report = ONT.check_expected_files("promethion", RUN, {SUMMARY: summary}, {SUMMARY})
    assert report == ExpectedFilesReport(1, ())
