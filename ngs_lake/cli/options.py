"""Options and document loading shared by every command group."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfig, LakeConfigError

if TYPE_CHECKING:  # provisioning is imported by the functions that use it: it is slow to load
    from ngs_lake.provisioning.document_in_force import DocumentInForce

DEFAULT_CONFIG = os.environ.get("NGS_LAKE_CONFIG", "config/lake.yaml")
DEFAULT_STATE = os.environ.get("NGS_LAKE_STATE_DIR", ".ngs-lake")

config_option = click.option(
    "--config",
    "config_path",
    default=DEFAULT_CONFIG,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lake config document ($NGS_LAKE_CONFIG).",
)
state_option = click.option(
    "--state",
    "state_dir",
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The local state folder ($NGS_LAKE_STATE_DIR).",
)


def load_document(config_path: Path, target: str | None = None) -> LakeConfig:
    """The file, validated for `target` (default: the environment's `NGS_LAKE_TARGET`)."""
    try:
        return load_lake_config(config_path, target)
    except LakeConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def load_in_force(config_path: Path) -> DocumentInForce:
    """For the commands that read the running lake (`status`, `runs`): the document in force,
    which is the last valid one recorded by the lake when the file is invalid. Records nothing:
    recording is the lake's (its sensors), not an operator's command."""
    from ngs_lake.aws.clients import AwsClients, AwsTarget
    from ngs_lake.provisioning.document_in_force import load_document_in_force

    def s3_for(region: str) -> object:
        return AwsClients(AwsTarget.from_environment(region)).s3()

    try:
        return load_document_in_force(config_path, s3_for, record=False)
    except LakeConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


site_option = click.option("--site", help="Only this site's event queue (per-site queues).")
