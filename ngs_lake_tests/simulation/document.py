"""Issue #35 in the simulation: an invalid config document saved while the lake runs. Once the
rule is drawn, the simulated lake's tick and alert pass load their document from a real file
through `load_document_in_force`, as the sensors do; the world saves a typo into it (or
breaks its YAML), restarts the daemon, and restores the valid file later.

Judged (part of isolation): no tick or alert pass raises; the document in force is the valid
one, exactly; a completed alert pass leaves one `config_invalid` alert open while the file is
invalid and none once it is valid again. `DocumentActions` is mixed into `LakeSimulation`,
`DocumentJudge` is called from `Judge.check`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from ngs_lake.alerts.conditions import DocumentCheck
from ngs_lake.config.model import LakeConfig
from ngs_lake.provisioning.document_in_force import (
    CATALOG_BUCKET_ENV,
    DocumentInForce,
    forget_process_state,
    load_document_in_force,
)

CONFIG_ISOLATION = "isolation: an invalid document stops nothing"
CONFIG_ALERT = "config_invalid opens once and resolves"
DOCUMENT_INVARIANTS = (CONFIG_ISOLATION, CONFIG_ALERT)
CONFIG_INVALID = "config_invalid"
MISTAKES = {
    # the typo of issue #35, in a platform id
    "platform typo": lambda text: text.replace("platform: promethion", "platform: promethoin", 1),
    "unknown key": lambda text: text.replace("lake:\n", "lake:\n  retention_dayz: 3\n", 1),
    "broken yaml": lambda text: text.replace("sequencers:", "sequencers: [", 1),
}


@dataclass
class DocumentFile:
    """`config/lake.yaml` on disk, as the world last saved it, and what the lake loaded."""

    valid_text: str
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sim-doc-")))
    valid: bool = True
    spells: int = 0  # times the file went from valid to invalid
    # since the judge last looked: each load, and whether the file was valid then
    loaded: list[tuple[DocumentInForce, bool]] = field(default_factory=list)
    alert_passes: list[bool] = field(default_factory=list)  # completed, file valid at the time

    @property
    def path(self) -> Path:
        return self.directory / "lake.yaml"

    def save(self, text: str, valid: bool, at: float) -> None:
        self.path.write_text(text)
        os.utime(self.path, (at, at))  # its modification time on the virtual clock
        if self.valid and not valid:
            self.spells += 1
        self.valid = valid

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def config_in_force(lake: Any) -> LakeConfig:
    """What the lake's tick runs on: `lake.config` until the rule is drawn, then the file's
    document in force, loaded as the sensors load it."""
    if lake.document_file is None:
        return lake.config
    return _load(lake).document


def document_check(lake: Any) -> tuple[LakeConfig, DocumentCheck | None]:
    """The alert pass's document, and its `document` argument: what it found loading the file
    (None: no file yet)."""
    if lake.document_file is None:
        return lake.config, None
    loaded = _load(lake)
    saved_at = loaded.saved_at or lake.clock.now()
    check = DocumentCheck(str(lake.document_file.path), loaded.problems, loaded.sha256, saved_at)
    return loaded.document, check


def _load(lake: Any) -> DocumentInForce:
    # the deployment names the catalogue bucket, as deploy/env and the local stack do
    deployment = {CATALOG_BUCKET_ENV: lake.config.lake.catalog_bucket}
    loaded = load_document_in_force(
        lake.document_file.path,
        lambda region: lake.aws.s3(),
        target="local",
        record=True,
        environ=deployment,
    )
    lake.document_file.loaded.append((loaded, lake.document_file.valid))
    return loaded


class DocumentActions(RuleBasedStateMachine):
    """The operator's saves of issue #35 (mixed into LakeSimulation)."""

    lake: Any

    def _document(self) -> DocumentFile:
        """The file, first saved valid and loaded once: the lake ran on it before."""
        if self.lake.document_file is None:
            text = self.lake.document_text
            self.lake.document_file = DocumentFile(text)
            self.lake.document_file.save(text, True, self.lake.clock.timestamp())
            forget_process_state()  # a new daemon: nothing of another example's lake
            self.process("config", lambda: _load(self.lake))
        return self.lake.document_file

    @rule(mistake=st.sampled_from(sorted(MISTAKES)))
    def save_invalid_document(self, mistake: str) -> None:
        from ngs_lake_tests.simulation.machine import note

        document = self._document()
        document.save(MISTAKES[mistake](document.valid_text), False, self.lake.clock.timestamp())
        note(f"config: invalid document saved ({mistake})")
        self.checked()

    @precondition(lambda self: self.lake.document_file is not None)
    @rule()
    def restore_valid_document(self) -> None:
        from ngs_lake_tests.simulation.machine import note

        if self.lake.document_file is not None and not self.lake.document_file.valid:
            document = self.lake.document_file
            document.save(document.valid_text, True, self.lake.clock.timestamp())
            note("config: valid document restored")
        self.checked()

    @precondition(lambda self: self.lake.document_file is not None)  # else it changes nothing
    @rule()
    def daemon_restart(self) -> None:
        """The daemon and code server restart: the process's memory of the record is gone."""
        from ngs_lake_tests.simulation.machine import note

        forget_process_state()
        note("dagster: daemon restarted")
        self.checked()

    def restore_document(self) -> None:
        """At quiescence: the file is fixed."""
        if self.lake.document_file is not None and not self.lake.document_file.valid:
            self.restore_valid_document()


class DocumentJudge:
    def __init__(self, lake: Any, checked: Counter[str]) -> None:
        self.lake, self.checked = lake, checked

    def check(self, quiescent: bool, violate: Any) -> None:
        document = self.lake.document_file
        if document is None:
            return
        self.checked[f"invariant checked: {CONFIG_ISOLATION}"] += 1
        loaded, document.loaded = document.loaded, []
        for one, valid in loaded:
            if one.document != self.lake.config:
                violate(CONFIG_ISOLATION, f"the lake ran on another document (sha256 {one.sha256})")
            if bool(one.problems) == valid:
                violate(CONFIG_ISOLATION, f"the file judged {one.problems or 'valid'} wrongly")
        self.checked[f"invariant checked: {CONFIG_ALERT}"] += 1
        passes, document.alert_passes = document.alert_passes, []
        items = self.lake.inspect["dynamodb"].scan(TableName=self.lake.names.alerts_table)["Items"]
        open_now = [
            i["subject"]["S"]
            for i in items
            if i["condition"]["S"] == CONFIG_INVALID and i["status"]["S"] in ("OPEN", "OPENING")
        ]
        if passes and len(open_now) != (0 if passes[-1] else 1):
            state = "valid" if passes[-1] else "invalid"
            violate(CONFIG_ALERT, f"after an alert pass on the {state} file, open: {open_now}")
        opened = {
            d.attributes["alert_id"]["StringValue"]
            for d in self.lake.sns.delivered_to(self.lake.operations)
            if d.attributes["condition"]["StringValue"] == CONFIG_INVALID
            and d.attributes["status"]["StringValue"] != "resolved"
        }
        if len(opened) > document.spells:
            violate(
                CONFIG_ALERT, f"{len(opened)} alerts opened for {document.spells} invalid saves"
            )
