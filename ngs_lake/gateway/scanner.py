"""What is in a share folder: files with size and mtime, folders, and what must be refused.

Only the file system is consulted. A symlink whose target leaves the share, or a name that is not
valid UTF-8 or holds control characters, would become an object key the lake must not have: it is
refused and logged, and never uploaded.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

log = logging.getLogger(__name__)

Entry = tuple[str, bool, int, int]  # (relative path, is_dir, size, mtime_ns); dirs end with "/"


@dataclass
class ScanResult:
    entries: list[Entry] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def refusal(name: str) -> str | None:
    """Why a path component cannot become part of an object key, or None if it can."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "name holds control characters"
    if name in (".", ".."):
        return "name is a relative path segment"
    return None


def scan_share(root: Path) -> ScanResult:
    """Walk a share folder without following symlinks out of it."""
    result = ScanResult()
    root = root.resolve()
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            reason = refusal(entry.name)
            if reason is None and entry.is_symlink():
                reason = _symlink_refusal(root, Path(entry.path))
            if reason is not None:
                result.refused.append((relative, reason))
                continue
            try:
                info = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                result.entries.append((f"{relative}/", True, 0, 0))
                stack.append((Path(entry.path), f"{relative}/"))
            elif stat.S_ISREG(info.st_mode):
                result.entries.append((relative, False, info.st_size, info.st_mtime_ns))
    return result


def stat_entry(root: Path, relative: str) -> Entry | None:
    """One path's entry now, or None if it is gone, refused or not a regular file or folder."""
    path = root / relative.rstrip("/")
    if any(refusal(part) for part in Path(relative).parts):
        return None
    if path.is_symlink() and _symlink_refusal(root.resolve(), path) is not None:
        return None
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(info.st_mode):
        return (f"{relative.rstrip('/')}/", True, 0, 0)
    if stat.S_ISREG(info.st_mode):
        return (relative, False, info.st_size, info.st_mtime_ns)
    return None


def _symlink_refusal(root: Path, link: Path) -> str | None:
    target = link.resolve()
    if target != root and root not in target.parents:
        return f"symlink points outside the share, to {target}"
    return None


class TouchedPaths(FileSystemEventHandler):
    """Watchdog events only point the scanner at a path (`touch(share_arn, relative)`); the file
    system stays the truth."""

    def __init__(self, share_arn: str, root: Path, touch: Callable[[str, str], None]) -> None:
        self.share_arn = share_arn
        self.root = root
        self.touch = touch

    def on_any_event(self, event: FileSystemEvent) -> None:
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = Path(raw if isinstance(raw, str) else raw.decode(errors="surrogateescape"))
            try:
                relative = path.relative_to(self.root).as_posix()
            except ValueError:
                continue
            if relative and relative != ".":
                self.touch(self.share_arn, relative + ("/" if event.is_directory else ""))
