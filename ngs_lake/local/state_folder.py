"""The local state folder: its marker, the lock that says a stack runs from it, and the pid file
that `local down` reads.

`local up` empties its state folder on every start (moto keeps its state in memory, so an older
gateway database or Dagster history would describe resources that are gone). It empties only a
folder that carries its marker, so a mistyped `--state ~` is refused, not deleted. The marker is
also the lock: `local up` holds an exclusive flock on it while it runs, and its watchdog holds it
until the last process group is stopped, so a second `local up` from the folder is refused
before it starts anything, however the first one ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ngs_lake.local.process_groups import process_is, start_time, stop_group
from ngs_lake.local.processes import ProcessFailed

MARKER = ".ngs-lake-state"
PID_FILE = "local-up.json"
MARKER_TEXT = "The state folder of `ngs-lake local up`, which empties it on every start.\n"
GROUP_GRACE_SECONDS = 10.0


class StateFolderRefused(ProcessFailed):
    """The folder is not `local up`'s to reset, or a stack runs from it already."""


@dataclass(frozen=True)
class StackGroup:
    name: str
    pgid: int
    started: int  # the leader's start time, so a reused pid is never signalled


@dataclass(frozen=True)
class StackRecord:
    """What `local up` writes to its pid file: itself, its ports, its groups in start order."""

    pid: int
    started: int
    ports: dict[str, int]
    groups: tuple[StackGroup, ...] = ()

    def describe(self) -> str:
        ports = ", ".join(f"{name} {port}" for name, port in self.ports.items())
        return f"pid {self.pid}; ports {ports}"


def read_record(state_dir: Path) -> StackRecord | None:
    try:
        data = json.loads((state_dir / PID_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    groups = tuple(StackGroup(**group) for group in data.get("groups", []))
    return StackRecord(data["pid"], data["started"], data["ports"], groups)


def lock_held(state_dir: Path) -> bool:
    """True while a `local up` (or the watchdog stopping what it left) holds the folder."""
    try:
        fd = os.open(state_dir / MARKER, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class StateClaim:
    """The held lock on a state folder; `fd` can be handed to the watchdog to hold it longer."""

    def __init__(self, state_dir: Path, fd: int) -> None:
        self.state_dir = state_dir
        self.fd = fd

    def reset(self) -> None:
        """Empty the folder but for its marker (the lock lives on it)."""
        for entry in self.state_dir.iterdir():
            if entry.name == MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def record(self, ports: dict[str, int], groups: list[StackGroup]) -> None:
        pid = os.getpid()
        data = {
            "pid": pid,
            "started": start_time(pid),
            "ports": ports,
            "groups": [asdict(group) for group in groups],
        }
        partial = self.state_dir / f".{PID_FILE}.partial"
        partial.write_text(json.dumps(data, indent=2))
        partial.replace(self.state_dir / PID_FILE)

    def release(self) -> None:
        (self.state_dir / PID_FILE).unlink(missing_ok=True)
        os.close(self.fd)


def claim_state_folder(state_dir: Path) -> StateClaim:
    """Lock the folder for one stack, or say why not; nothing is deleted or started here."""
    marker = state_dir / MARKER
    if state_dir.exists() and not marker.exists() and any(state_dir.iterdir()):
        raise StateFolderRefused(
            f"refusing to reset {state_dir}: it holds files but no {MARKER} marker, so it is not "
            "a state folder of `local up`; choose a new or empty folder with --state"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(marker, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateFolderRefused(running_message(state_dir)) from None
    os.ftruncate(fd, 0)
    os.write(fd, MARKER_TEXT.encode())
    return StateClaim(state_dir, fd)


def running_message(state_dir: Path) -> str:
    record = read_record(state_dir)
    if record is None:
        return f"a local lake is already starting from {state_dir}"
    if not process_is(record.pid, record.started):
        return (
            f"the local lake from {state_dir} ({record.describe()}) is still stopping; "
            "try again in a few seconds"
        )
    return (
        f"a local lake is already running from {state_dir} ({record.describe()}); stop it with "
        f"`ngs-lake local down --state {state_dir}` or Ctrl-C in its terminal"
    )


def stop_stack(state_dir: Path, echo: Callable[[str], None], timeout: float = 60.0) -> bool:
    """`local down`: ask `local up` to stop (SIGTERM; it stops Dagster, the gateway, then moto)
    and wait until the folder's lock is free. If `local up` is gone or stuck, stop each group it
    recorded, in that same order. False if something is still running."""
    record = read_record(state_dir)
    if lock_held(state_dir):
        if record is not None and process_is(record.pid, record.started):
            echo(f"stopping the local lake from {state_dir} ({record.describe()})")
            os.kill(record.pid, signal.SIGTERM)
        if _wait_until(lambda: not lock_held(state_dir), timeout):
            echo(f"stopped the local lake from {state_dir}")
            return True
        echo(f"`local up` did not stop within {timeout:.0f} s; stopping its process groups")
    stopped = _stop_groups(record, echo) if record is not None else []
    if record is not None and process_is(record.pid, record.started):
        os.kill(record.pid, signal.SIGKILL)
    if not stopped and not lock_held(state_dir):
        echo(f"no local lake is running from {state_dir}")
    with contextlib.suppress(FileNotFoundError):
        if not lock_held(state_dir):
            (state_dir / PID_FILE).unlink()
    return _wait_until(lambda: not lock_held(state_dir), GROUP_GRACE_SECONDS)


def _stop_groups(record: StackRecord, echo: Callable[[str], None]) -> list[str]:
    stopped = []
    for group in reversed(record.groups):
        if stop_group(group.pgid, group.started, GROUP_GRACE_SECONDS):
            echo(f"stopped {group.name} (process group {group.pgid})")
            stopped.append(group.name)
    return stopped


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True
