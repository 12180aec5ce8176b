"""The manual (docs/, MkDocs) and the README as a newcomer reads them: the site builds strictly
(a broken link or anchor fails it), every documented `ngs-lake ...` command parses with the CLI's
own click parser, the message examples match the shipped schema, and the README is a front page.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ngs_lake.cli import main
from ngs_lake.runs.announcements import validate_message
from ngs_lake_tests.conftest import REPO

PAGES = sorted((REPO / "docs").rglob("*.md"))
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(ngs-lake [^`]+)`")
QUIET = {"NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner (see development.md)


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET},
        check=False,
        timeout=120,
    )


def test_the_manual_builds_strictly_with_links_and_anchors_checked(tmp_path):
    result = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "operators" / "ui" / "index.html").is_file()


@pytest.mark.parametrize(
    ("link", "named"),
    [
        ("[in flight](ui.md#runs-in-fligth)", "does not contain an anchor '#runs-in-fligth'"),
        ("[gone](no-such-page.md)", "'no-such-page.md', but the target"),
    ],
    ids=["anchor", "page"],
)
def test_a_broken_link_or_anchor_fails_the_build(tmp_path, link, named):
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "operators" / "lifecycle.md"
    page.write_text(page.read_text() + f"\nSee {link}.\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert named in result.stderr, result.stderr


def _commands(text: str) -> list[str]:
    """Each `ngs-lake ...` command: the lines of code blocks (a backslash or an open quote
    continues one), then inline code spans outside them."""
    found = []
    for block in FENCE.findall(text):
        lines = block.splitlines()
        while lines:
            line = lines.pop(0).strip().removeprefix("$ ")
            if not line.startswith("ngs-lake "):
                continue
            while lines and (line.endswith("\\") or _open_quote(line)):
                line = line.removesuffix("\\") + "\n" + lines.pop(0)
            found.append(line)
    prose = FENCE.sub("", text)
    found += [" ".join(span.split()) for span in INLINE.findall(prose)]
    return found


def _open_quote(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:  # No closing quotation
        return True
    return False


def parse(command: str) -> None:
    """The command's words through click's parser, group by group, as `ngs-lake` would take
    them; nothing is run. Optional parts written `[--flag VALUE]` count as given."""
    words = [w.strip("[]") for w in shlex.split(command, comments=True)[1:]]
    group, name, parent = main, "ngs-lake", None
    while True:
        context = group.make_context(name, [w for w in words if w], parent=parent)
        if not isinstance(group, click.Group):
            return
        rest = [*context._protected_args, *context.args]
        if not rest:
            return
        name, group, words = group.resolve_command(context, rest)
        parent = context


def documented_commands() -> list[tuple[str, str]]:
    sources = [REPO / "README.md", *PAGES]
    return [
        (str(path.relative_to(REPO)), command)
        for path in sources
        for command in _commands(path.read_text())
    ]


def test_every_documented_command_parses():
    commands = documented_commands()
    assert len(commands) >= 40, commands  # the manual's commands, not an empty harvest
    failures = []
    for where, command in commands:
        try:
            parse(command)
        except click.ClickException as exc:
            failures.append(f"{where}: {command!r}: {exc.format_message()}")
    assert not failures, "\n".join(failures)


def test_the_docs_use_one_command_prefix():
    """`ngs-lake ...` on PATH, as the README and Getting started state once; never a command
    written `.venv/bin/ngs-lake ...`."""
    for path in [REPO / "README.md", *PAGES]:
        text = path.read_text()
        in_blocks = [
            line
            for block in FENCE.findall(text)
            for line in block.splitlines()
            if line.strip().startswith(".venv/bin/ngs-lake")
        ]
        assert not in_blocks and "`.venv/bin/ngs-lake " not in text, path
    for path in (REPO / "README.md", REPO / "docs" / "operators" / "getting-started.md"):
        assert "source .venv/bin/activate" in path.read_text(), path


def test_the_readme_is_a_front_page_of_at_most_150_lines():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for page in ("operators/getting-started.md", "consumers/messages.md"):
        assert f"docs/{page}" in readme, page
    links = re.findall(r"\]\((docs/[^)#]+)", readme)  # the build does not see the README's
    assert links and all((REPO / link).is_file() for link in links), links


def test_the_message_examples_match_the_shipped_schema():
    text = (REPO / "docs" / "consumers" / "messages.md").read_text()
    examples = re.findall(r"^```json\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert len(examples) == 2
    for example in examples:
        validate_message(example)
        assert json.loads(example)["schema"] == "ngs-lake/run-event/v1"
