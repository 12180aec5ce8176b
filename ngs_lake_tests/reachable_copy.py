"""Copies that a process run as another user can reach.

As root, the tests that drop privileges (PostgreSQL as `nobody`, the image's CMD as its USER) must
not read the checkout in place: a clone inside a private folder (mode 0700, as `mktemp -d` makes
and as root's home is) cannot be entered by another user. So what such a process runs or reads is
copied first into a world-readable folder under the temporary directory; hard links where the file
system allows (no data is copied, the files keep their modes), plain copies where it does not.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path


def _link_or_copy(source: str, destination: str) -> str:
    try:
        os.link(source, destination)
    except OSError as exc:  # another file system, or links not allowed there
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, destination)
    return destination


def reachable_folder(prefix: str) -> Path:
    """A new folder under the temporary directory that every user may enter and read."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def reachable_copy(source: Path, destination: Path) -> Path:
    """`source` (a folder) as a tree at `destination`, whose folders every user may enter."""
    shutil.copytree(source, destination, symlinks=True, copy_function=_link_or_copy)
    for folder, _, _ in os.walk(destination):
        Path(folder).chmod(Path(folder).stat().st_mode | 0o555)
    return destination
