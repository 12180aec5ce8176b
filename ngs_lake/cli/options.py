"""Options and document loading shared by every command group."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ngs_lake.config.document import load_lake_config
from ngs_lake.config.model import LakeConfig, LakeConfigError

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


def load_document(config_path: Path) -> LakeConfig:
    try:
        return load_lake_config(config_path)
    except LakeConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


site_option = click.option("--site", help="Only this site's event queue (per-site queues).")
