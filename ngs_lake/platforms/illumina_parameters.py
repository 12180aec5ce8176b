"""Illumina RunParameters.xml (or `runParameters.xml`, as MiSeq and HiSeq spell it): software
versions, and the run's facts when no RunInfo.xml is at hand.

Each instrument generation puts the facts elsewhere (ngs_lake_tests/data/real_runs): the NextSeq
1000/2000 `InstrumentSerialNumber`, `FlowCellSerialNumber`, `PlannedCycles/Read1`; the NextSeq
500/550 `RunID`, `InstrumentID`, `FlowCellRfidTag/SerialNumber`, `Setup/Index1Read`; the NovaSeq X
`RunId` and a list of consumables, where the flow cell's `<SerialNumber>` is the one whose `<Type>`
is `FlowCell` (the first `<SerialNumber>` can be a reagent's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict

from ngs_lake.platforms.base import RunFacts
from ngs_lake.platforms.instrument_xml import parse_instrument_xml

RUN_PARAMETERS = "RunParameters.xml"
RUN_PARAMETERS_NAMES = (RUN_PARAMETERS, "runParameters.xml")


class RunParameters(BaseModel):
    model_config = ConfigDict(frozen=True)

    application: str | None
    application_version: str | None
    chemistry: str | None
    experiment_name: str | None
    rta_version: str | None


def run_parameters_of(files: Mapping[str, bytes]) -> tuple[str, bytes] | None:
    """The RunParameters file present, under whichever spelling the instrument used."""
    return next(((name, files[name]) for name in RUN_PARAMETERS_NAMES if name in files), None)


def _first(root: Element, *tags: str) -> str | None:
    for tag in tags:
        for element in root.iter(tag):
            if element.text and element.text.strip():
                return element.text.strip()
    return None


def parse_run_parameters(data: bytes, name: str = RUN_PARAMETERS) -> RunParameters:
    """Application, version and chemistry, wherever each instrument generation puts them."""
    root = parse_instrument_xml(data, name)
    return RunParameters(
        application=_first(root, "Application", "ApplicationName"),
        application_version=_first(root, "ApplicationVersion", "SystemSuiteVersion"),
        chemistry=_first(root, "Chemistry", "ChemistryVersion", "ReagentKitVersion"),
        experiment_name=_first(root, "ExperimentName"),
        rta_version=_first(root, "RtaVersion", "RTAVersion"),
    )


def run_parameters_facts(data: bytes, name: str = RUN_PARAMETERS) -> RunFacts:
    """Run id, instrument, flow cell, start date and planned reads from RunParameters.xml."""
    root = parse_instrument_xml(data, name)
    return RunFacts(
        run_id=_first(root, "RunId", "RunID"),
        instrument=_first(root, "InstrumentSerialNumber", "InstrumentID", "ScannerID"),
        flowcell=_flowcell(root),
        run_date=_start_date(root),
        geometry=_planned_reads(root),
    )


def _flowcell(root: Element) -> str | None:
    direct = _first(root, "FlowCellSerialNumber", "FlowCellSerialBarcode")
    if direct:
        return direct
    for element in root.iter():
        if (element.findtext("Type") or "").strip() == "FlowCell":
            serial = (element.findtext("SerialNumber") or "").strip()
            if serial:
                return serial
    for tag in ("FlowCellRfidTag", "FlowcellRFIDTag"):
        tagged = root.find(f".//{tag}/SerialNumber")
        if tagged is not None and tagged.text and tagged.text.strip():
            return tagged.text.strip()
    return None


def _start_date(root: Element) -> str | None:
    """`RunStartDate` is YYMMDD (NextSeq 500/550), `RunStartTime` ISO 8601 (NextSeq 2000)."""
    text = _first(root, "RunStartDate", "RunStartTime")
    if text is None:
        return None
    for parse in (lambda t: datetime.strptime(t, "%y%m%d"), datetime.fromisoformat):
        try:
            return parse(text).date().isoformat()
        except ValueError:
            continue
    return None


_READ_TAGS = (("R1", "Read1"), ("I1", "Index1"), ("I2", "Index2"), ("R2", "Read2"))
_SETUP_TAGS = (("R1", "Read1"), ("I1", "Index1Read"), ("I2", "Index2Read"), ("R2", "Read2"))


def _planned_reads(root: Element) -> str | None:
    planned = root.find("PlannedCycles")
    source, tags = (planned, _READ_TAGS) if planned is not None else (root, _SETUP_TAGS)
    reads = []
    for label, tag in tags:
        text = (source.findtext(f".//{tag}") or "").strip()
        if text.isascii() and text.isdigit() and int(text) > 0:
            reads.append(f"{label}:{int(text)}")
    return " ".join(reads) or None
