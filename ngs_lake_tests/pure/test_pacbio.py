"""PacBio Revio: each SMRT cell `<run>/<plate>_<well>` is a run of its own, complete when its
`metadata/<movie>.transferdone`, which lists the cell's files, arrives."""

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import ExpectedFilesReport, PlatformFileError, RunLocation
from ngs_lake.platforms.pacbio import movie_name, parse_transferdone

PACBIO = family_of("revio")
CELL = "r84046_20231116_153000/1_A01"
MOVIE = "m84046_231116_153611_s1"
MARKER = f"metadata/{MOVIE}.transferdone"
TRANSFER = (
    b"hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam\n"
    b"hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam.pbi\n"
    b"\n"
    b"metadata/m84046_231116_153611_s1.metadata.xml\n"
)


def test_movie_names_are_instrument_stamp_and_slot():
    assert movie_name("84046", "231116_153611", 1) == MOVIE


def test_a_cell_is_two_folders_deep():
    assert PACBIO.locate(f"{CELL}/{MARKER}") == RunLocation(CELL, MARKER)
    assert PACBIO.run_depth == 2


@pytest.mark.parametrize(
    ("relative", "is_marker"),
    [
        (MARKER, True),
        (f"metadata/{MOVIE}.metadata.xml", False),
        (f"{MOVIE}.transferdone", False),
        (f"metadata/sub/{MOVIE}.transferdone", False),
    ],
)
def test_the_transferdone_is_the_marker(relative, is_marker):
    assert PACBIO.is_completion_marker("revio", RunLocation(CELL, relative)) is is_marker
    assert PACBIO.completion_marker("revio", CELL) == "metadata/*.transferdone"


def test_metadata_is_the_transferdone_and_the_metadata_xml():
    assert PACBIO.metadata_paths("revio", CELL) == (
        "metadata/*.transferdone",
        "metadata/*.metadata.xml",
    )


def test_the_transfer_list_is_one_path_per_line():
    assert parse_transferdone(TRANSFER) == [
        "hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam",
        "hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam.pbi",
        "metadata/m84046_231116_153611_s1.metadata.xml",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a.bam\n/etc/passwd\n../b.bam\n", ".transferdone: paths must stay inside the cell folder: /etc/passwd"),
        (b"hifi_reads/../../1_B01/x.bam\n", ".transferdone: paths must stay inside the cell folder: hifi_reads/../../1_B01/x.bam"),
        (b"a.bam\n\xff\n", ".transferdone: not UTF-8 text"),
    ],
)  # fmt: skip
def test_a_transfer_list_that_leaves_the_cell_is_refused(data, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_transferdone(data)
    assert str(caught.value) == message


def test_dots_inside_names_stay_inside_the_cell():
    assert parse_transferdone(b"hifi_reads/a..b.bam\n") == ["hifi_reads/a..b.bam"]


def test_metadata_is_the_movie_and_its_slot():
    assert PACBIO.parse_metadata("revio", {MARKER: TRANSFER}) == {
        "run_id": MOVIE,
        "movie": MOVIE,
        "instrument": "84046",
        "cell_slot": 1,
        "files_listed": 3,
    }


def test_a_movie_of_another_shape_is_still_the_run_id():
    marker = "metadata/movie-7.transferdone"
    assert PACBIO.parse_metadata("revio", {marker: b"a.bam\n"}) == {
        "run_id": "movie-7",
        "movie": "movie-7",
        "files_listed": 1,
    }


def test_metadata_without_the_marker_is_empty():
    assert PACBIO.parse_metadata("revio", {f"metadata/{MOVIE}.metadata.xml": b"<x/>"}) == {}


def test_every_listed_file_and_the_marker_are_expected():
    present = {
        MARKER,
        "hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam",
        "metadata/m84046_231116_153611_s1.metadata.xml",
    }
    report = PACBIO.check_expected_files("revio", CELL, {MARKER: TRANSFER}, present)
    assert report == ExpectedFilesReport(
        4, ("hifi_reads/m84046_231116_153611_s1.hifi_reads.bc2001.bam.pbi",)
    )


def test_without_the_marker_only_the_marker_is_expected():
    report = PACBIO.check_expected_files("revio", CELL, {}, {"hifi_reads/a.bam"})
    assert report == ExpectedFilesReport(1, ("metadata/*.transferdone",))
