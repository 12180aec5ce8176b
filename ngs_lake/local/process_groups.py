"""Process groups of the local lake: finding what is left of one, stopping it, and the watchdog
that stops them all when `local up` is gone.

Each child of `local up` leads a session of its own, so a Ctrl-C in the terminal reaches `local
up` alone, and `dagster dev` starts its webserver, daemon and code servers with a plain Popen,
inside its group. PR_SET_PDEATHSIG reaches only direct children, so when `local up` dies by
SIGKILL nothing would stop those groups. The watchdog, a small process in its own session, reads
group ids from a pipe that only `local up` holds: end of file means `local up` is gone, and it
stops every group still registered, newest first.

A group id is the pid of its leader, and Linux does not reuse a pid while any process still has
it as its group id. A group is stopped only while its leader is the process that was registered
(same start time), or is gone but left members behind.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, NamedTuple

PROC = Path("/proc")
WATCHDOG_GRACE_SECONDS = 5.0
KILLED_WITHIN_SECONDS = 5.0  # SIGKILL is not refused, but a process in uninterruptible I/O waits


class ProcessStat(NamedTuple):
    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    started: int  # clock ticks after boot: with the pid, names one process for good


def read_stat(pid: int) -> ProcessStat | None:
    """The process's line in /proc, or None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
    return ProcessStat(
        pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    )


def start_time(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None else stat.started


def process_is(pid: int, started: int) -> bool:
    """True while the process `pid` that started at `started` is alive (zombies are dead)."""
    stat = read_stat(pid)
    return stat is not None and stat.started == started and stat.state != "Z"


def live_group_members(pgid: int) -> list[int]:
    """Pids of the group's processes that still run; a zombie holds no port and does no work."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat.pgid == pgid and stat.state != "Z":
                members.append(stat.pid)
    return members


def group_is_ours(pgid: int, leader_started: int | None) -> bool:
    """The group still belongs to the leader registered with this start time."""
    leader = read_stat(pgid)
    if leader is not None:
        return leader_started is None or leader.started == leader_started
    return bool(live_group_members(pgid))  # the leader is gone, its id is still held by members


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_group(pgid: int, leader_started: int | None, grace: float) -> bool:
    """SIGTERM the whole group, SIGKILL what is left of it after `grace`; wait until none of it
    runs. False if the group was no longer ours (nothing was sent)."""
    if not group_is_ours(pgid, leader_started):
        return False
    signal_group(pgid, signal.SIGTERM)
    if not wait_group_gone(pgid, grace):
        signal_group(pgid, signal.SIGKILL)
        wait_group_gone(pgid, KILLED_WITHIN_SECONDS)
    return True


def wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while live_group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


class WatchdogGone(RuntimeError):
    """The watchdog exited before `local up`, so its children would no longer be stopped."""


class ProcessWatchdog:
    """The parent's end of the watchdog: register each group as it starts, release it once it is
    stopped, close when done. `hold_fds` are kept open by the watchdog until it exits (a lock
    that says the stack is still running, or still stopping)."""

    def __init__(self, log_path: Path, hold_fds: tuple[int, ...] = ()) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self._popen: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-m", "ngs_lake.local.process_groups"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=hold_fds,
            )
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self._popen.pid

    def guard(self, pgid: int) -> None:
        self._send(f"guard {pgid} {start_time(pgid) or 0}")

    def release(self, pgid: int) -> None:
        """A gone watchdog has nothing to release; the stopping of the other groups goes on."""
        with contextlib.suppress(WatchdogGone):
            self._send(f"release {pgid}")

    def close(self, timeout: float = 30.0) -> None:
        """End of file: the watchdog stops what is still registered, then exits."""
        if self._popen.stdin is not None and not self._popen.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()

    def _send(self, line: str) -> None:
        stdin = self._popen.stdin
        assert stdin is not None
        try:
            stdin.write(f"{line}\n".encode())
            stdin.flush()
        except BrokenPipeError:
            raise WatchdogGone(
                f"the process watchdog exited (code {self._popen.poll()}); see {self.log_path}"
            ) from None


def watch(commands: IO[bytes], parent: int) -> dict[int, int]:
    """Follow the parent's guard/release lines until end of file or until the parent is gone
    (a fork that kept the pipe open must not keep the watchdog waiting); the groups left."""
    guarded: dict[int, int] = {}
    pending = b""
    while True:
        ready, _, _ = select.select([commands], [], [], 1.0)
        if not ready:
            if os.getppid() != parent:
                return guarded
            continue
        chunk = os.read(commands.fileno(), 4096)
        if not chunk:
            return guarded
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            verb, pgid, *started = line.decode().split()
            if verb == "guard":
                guarded[int(pgid)] = int(started[0])
            else:
                guarded.pop(int(pgid), None)


def main() -> None:
    """The watchdog process: stop every group its parent left registered, newest first."""
    parent = os.getppid()
    left = watch(sys.stdin.buffer, parent)
    for pgid, started in reversed(left.items()):
        if stop_group(pgid, started, WATCHDOG_GRACE_SECONDS):
            print(f"watchdog: stopped process group {pgid}", flush=True)


if __name__ == "__main__":
    main()
