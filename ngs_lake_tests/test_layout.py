"""The package reads as its architecture: modules and functions small enough to read whole, and
the dependency rules of `.importlinter` kept (`lint-imports`, run here and by `make test`)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from ngs_lake.config.values import EVENT_TYPES
from ngs_lake.runs.model import RunEventType
from ngs_lake_tests.conftest import REPO

PACKAGE = REPO / "ngs_lake"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_450_lines():
    long = {
        str(p.relative_to(REPO)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_80_lines():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_consumers_filter_on_exactly_the_event_types_the_run_core_announces():
    schema = json.loads((PACKAGE / "schemas" / "run-event-v1.json").read_text())
    assert tuple(schema["properties"]["event_type"]["enum"]) == EVENT_TYPES
    assert tuple(t.value for t in RunEventType) == EVENT_TYPES
