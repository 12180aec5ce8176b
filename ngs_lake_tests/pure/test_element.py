"""Element AVITI: RunParameters.json first (cycles per read), one archive per read and cycle,
RunUploaded.json last with the run's outcome."""

import json

import pytest

from ngs_lake.platforms import family_of
from ngs_lake.platforms.base import ExpectedFilesReport, PlatformFileError, RunLocation
from ngs_lake.platforms.element import cycle_archive, parse_run_parameters, parse_run_uploaded

ELEMENT = family_of("aviti")
RUN = "20231116_AV224503_Sim-1"
# RunParameters.json with the field names an AVITI writes (the values are made up).
PARAMETERS = {
    "FileVersion": "5.0.0",
    "RunName": "Sim-1",
    "RunFolderName": RUN,
    "InstrumentName": "AV224503",
    "FlowcellID": "2324156723",
    "Side": "SideA",
    "Date": "2023-11-16T09:12:44.583905458-05:00",
    "Cycles": {"R1": 2, "R2": 1, "I1": 1},
    "ReadOrder": "I1,R1,R2",
}


def params(**changes) -> bytes:
    return json.dumps(PARAMETERS | changes).encode()


def test_cycle_archives_are_named_by_read_and_cycle():
    assert cycle_archive("R1", 7) == "BaseCalls/R1_C007.zip"
    assert cycle_archive("I2", 151) == "BaseCalls/I2_C151.zip"


def test_a_run_is_a_top_level_folder():
    assert ELEMENT.locate(f"{RUN}/RunUploaded.json") == RunLocation(RUN, "RunUploaded.json")


def test_run_uploaded_is_the_marker():
    assert ELEMENT.completion_marker("aviti", RUN) == "RunUploaded.json"
    assert ELEMENT.is_completion_marker("aviti", RunLocation(RUN, "RunUploaded.json"))
    assert not ELEMENT.is_completion_marker("aviti", RunLocation(RUN, "RunParameters.json"))
    assert ELEMENT.metadata_paths("aviti", RUN) == ("RunParameters.json", "RunUploaded.json")


def test_run_parameters_are_read_by_their_names():
    parsed = parse_run_parameters(params())
    assert (parsed.run_name, parsed.run_folder_name, parsed.instrument) == (
        "Sim-1",
        RUN,
        "AV224503",
    )
    assert (parsed.flowcell, parsed.side, parsed.cycles) == (
        "2324156723",
        "SideA",
        {"R1": 2, "R2": 1, "I1": 1},
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"RunName": "r"', "RunParameters.json: not JSON (JSONDecodeError: Expecting ',' delimiter: line 1 column 16 (char 15))"),
        (json.dumps({k: v for k, v in PARAMETERS.items() if k != "InstrumentName"}).encode(), "RunParameters.json: InstrumentName: Field required"),
        (params(Cycles={"R1": "many"}), "RunParameters.json: Cycles.R1: Input should be a valid integer, unable to parse string as an integer"),
    ],
)  # fmt: skip
def test_broken_run_parameters_name_the_field(data, message):
    with pytest.raises(PlatformFileError) as caught:
        parse_run_parameters(data)
    assert str(caught.value) == message


def test_the_outcome_is_read_from_the_marker():
    assert parse_run_uploaded(b'{"Outcome": "OutcomeCompleted"}').outcome == "OutcomeCompleted"


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (b"{}", r"^RunUploaded.json: no readable Outcome \("),
        (b"not json", r"^RunUploaded.json: not JSON \(JSONDecodeError: Expecting value"),
    ],
)
def test_a_marker_without_an_outcome_is_refused(data, start):
    with pytest.raises(PlatformFileError, match=start):
        parse_run_uploaded(data)


def test_metadata_is_the_run_and_its_outcome():
    metadata = ELEMENT.parse_metadata(
        "aviti",
        {"RunParameters.json": params(), "RunUploaded.json": b'{"Outcome": "OutcomeFailed"}'},
    )
    assert metadata == {
        "run_id": RUN,
        "run_name": "Sim-1",
        "instrument": "AV224503",
        "flowcell": "2324156723",
        "side": "SideA",
        "cycles": {"R1": 2, "R2": 1, "I1": 1},
        "outcome": "OutcomeFailed",
    }


def test_metadata_of_no_files_is_empty():
    assert ELEMENT.parse_metadata("aviti", {}) == {}


def test_every_cycle_archive_of_every_read_is_expected():
    present = {
        "RunParameters.json",
        "RunUploaded.json",
        "BaseCalls/I1_C001.zip",
        "BaseCalls/R1_C001.zip",
    }
    report = ELEMENT.check_expected_files("aviti", RUN, {"RunParameters.json": params()}, present)
    assert report == ExpectedFilesReport(
        7, ("BaseCalls/R1_C002.zip", "BaseCalls/R2_C001.zip", "RunManifest.json")
    )


def test_a_dual_index_run_expects_both_index_reads():
    cycles = {"I1": 1, "I2": 1, "R1": 1, "R2": 1}
    files = {"RunParameters.json": params(Cycles=cycles)}
    report = ELEMENT.check_expected_files("aviti", RUN, files, set(files))
    assert report == ExpectedFilesReport(
        7,
        (
            "BaseCalls/I1_C001.zip",
            "BaseCalls/I2_C001.zip",
            "BaseCalls/R1_C001.zip",
            "BaseCalls/R2_C001.zip",
            "RunManifest.json",
            "RunUploaded.json",
        ),
    )


def test_without_run_parameters_only_they_are_expected():
    report = ELEMENT.check_expected_files("aviti", RUN, {}, {"RunUploaded.json"})
    assert report == ExpectedFilesReport(1, ("RunParameters.json",))
