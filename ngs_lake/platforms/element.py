"""Element AVITI: a top-level run folder `<YYYYMMDD>_<instrument>_<run name>`.

RunParameters.json comes first and gives the cycles per read; base calls arrive as one archive per
read and cycle (`BaseCalls/<read>_C<cycle:03>.zip`); RunUploaded.json is written last and carries
the run's outcome.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from ngs_lake.platforms.base import (
    ExpectedFilesReport,
    PlatformFamily,
    PlatformFileError,
    RunFacts,
    bare,
    expected_report,
)

RUN_FOLDER = re.compile(
    r"^(?P<date>\d{8})_(?P<instrument>AV\d{6})_(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)$"
)
RUN_PARAMETERS = "RunParameters.json"
RUN_MANIFEST = "RunManifest.json"
RUN_UPLOADED = "RunUploaded.json"
READ_NAMES = ("I1", "I2", "R1", "R2")
# AVITI's longest kit reads 2 x 300 cycles; a RunParameters.json asking for more is refused
# before one archive name is generated from it.
MAX_CYCLES_PER_READ = 1_000


class ElementRunParameters(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    run_name: str = Field(alias="RunName")
    run_folder_name: str = Field(alias="RunFolderName")
    instrument: str = Field(alias="InstrumentName")
    flowcell: str | None = Field(default=None, alias="FlowcellID")
    side: str | None = Field(default=None, alias="Side")
    date: str | None = Field(default=None, alias="Date")
    # A cytoprofiling run has imaging batches and no Cycles (real_runs/20250415_AV244103_2345).
    cycles: dict[str, int] = Field(default_factory=dict, alias="Cycles")
    read_order: str | None = Field(default=None, alias="ReadOrder")
    consumables: dict[str, Any] = Field(default_factory=dict, alias="Consumables")

    @property
    def flowcell_serial(self) -> str | None:
        """`FlowcellID`, else the flow cell consumable's `SerialNumber`; None when blank."""
        consumable = self.consumables.get("Flowcell")
        serial = consumable.get("SerialNumber") if isinstance(consumable, dict) else None
        return self.flowcell or (serial if isinstance(serial, str) and serial else None)

    def geometry(self) -> str | None:
        """Reads in `ReadOrder` (else as listed), zero-cycle reads left out."""
        order = [r.strip() for r in (self.read_order or "").split(",") if r.strip()]
        reads = order or list(self.cycles)
        labels = [f"{r}:{self.cycles[r]}" for r in reads if self.cycles.get(r)]
        return " ".join(labels) or None


class RunUploaded(BaseModel):
    """`{"outcome": "OutcomeCompleted"}`: real files spell the key in lower case
    (real_runs/20250127_AV244103_1234_NT1850075L); `Outcome` is accepted too."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    outcome: str = Field(validation_alias=AliasChoices("outcome", "Outcome"))


def cycle_archive(read: str, cycle: int) -> str:
    return f"BaseCalls/{read}_C{cycle:03d}.zip"


def _json(data: bytes, name: str) -> Any:
    """JSON text; deep nesting (RecursionError) and bad encodings refused as the file's fault."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PlatformFileError(f"{name}: not JSON ({type(exc).__name__}: {exc})") from None


def parse_run_parameters(data: bytes) -> ElementRunParameters:
    """RunParameters.json, its cycles per read bounded by MAX_CYCLES_PER_READ."""
    try:
        params = ElementRunParameters.model_validate(_json(data, RUN_PARAMETERS))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PlatformFileError(
            f"{RUN_PARAMETERS}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        ) from None
    for read, cycles in params.cycles.items():
        if not 0 <= cycles <= MAX_CYCLES_PER_READ:
            raise PlatformFileError(
                f"{RUN_PARAMETERS} declares {cycles} cycles for {read}; 0 to {MAX_CYCLES_PER_READ}"
            )
    return params


def parse_run_uploaded(data: bytes) -> RunUploaded:
    try:
        return RunUploaded.model_validate(_json(data, RUN_UPLOADED))
    except ValidationError as exc:
        raise PlatformFileError(f"{RUN_UPLOADED}: no readable Outcome ({exc})") from None


class Element(PlatformFamily):
    name = "element"
    run_depth = 1
    folder_layout = "<YYYYMMDD>_AV<6 digits>_<run name> at the share's top"
    default_stall_window = timedelta(hours=2)

    run_path_pattern = bare(RUN_FOLDER)

    def completion_marker(self, platform: str, run_folder: str) -> str:
        return RUN_UPLOADED

    def metadata_paths(self, platform: str, run_folder: str) -> tuple[str, ...]:
        return (RUN_PARAMETERS, RUN_UPLOADED)

    def is_fact_file(self, platform: str, relative_path: str) -> bool:
        return relative_path == RUN_PARAMETERS

    def folder_facts(self, run_folder: str) -> RunFacts:
        """The instrument and the date, from `<YYYYMMDD>_<instrument>_<run name>`."""
        parts = RUN_FOLDER.match(run_folder)
        if parts is None:
            return RunFacts()
        day = parts["date"]
        return RunFacts(
            run_id=run_folder,
            instrument=parts["instrument"],
            run_date=f"{day[:4]}-{day[4:6]}-{day[6:]}",
        )

    def read_facts(self, platform: str, files: Mapping[str, bytes]) -> RunFacts:
        if RUN_PARAMETERS not in files:
            return RunFacts()
        params = parse_run_parameters(files[RUN_PARAMETERS])
        return RunFacts(
            run_id=params.run_folder_name or None,
            flowcell=params.flowcell_serial,
            instrument=params.instrument or None,
            run_date=params.date[:10] if params.date else None,
            geometry=params.geometry(),
        )

    def parse_metadata(self, platform: str, files: Mapping[str, bytes]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if RUN_PARAMETERS in files:
            params = parse_run_parameters(files[RUN_PARAMETERS])
            out |= {
                "run_id": params.run_folder_name,
                "run_name": params.run_name,
                "instrument": params.instrument,
                "flowcell": params.flowcell,
                "side": params.side,
                "cycles": params.cycles,
            }
        if RUN_UPLOADED in files:
            out["outcome"] = parse_run_uploaded(files[RUN_UPLOADED]).outcome
        return out

    def check_expected_files(
        self, platform: str, run_folder: str, files: Mapping[str, bytes], present: set[str]
    ) -> ExpectedFilesReport:
        if RUN_PARAMETERS not in files:
            return expected_report([RUN_PARAMETERS], present)
        params = parse_run_parameters(files[RUN_PARAMETERS])
        expected = [RUN_PARAMETERS, RUN_MANIFEST, RUN_UPLOADED]
        for read in READ_NAMES:
            expected += [cycle_archive(read, c) for c in range(1, params.cycles.get(read, 0) + 1)]
        return expected_report(expected, present)
