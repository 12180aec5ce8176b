"""However `local up` or `demo` ends (Ctrl-C, SIGTERM, SIGHUP, SIGKILL, a background start), no
process it started is left and its ports are free; `local down` stops a stack from another
shell; one stack runs from a state folder at a time, and only a marked folder is ever reset.

Each test starts the real command, takes the whole process tree it started from /proc (pids,
their process groups and sessions, and the TCP ports they listen on), ends the command, then
waits (at most 30 s, a bounded wait, not a timing) until none of it is left. Groups and sessions
are followed, not only pids, so a process the tree starts after the snapshot is counted too.

The full `dagster dev` tree (webserver, daemon, code server, gRPC server) is started where it is
what is tested: a background start stopped by SIGINT (Dagster maps SIGTERM onto an inherited
ignored SIGINT) and SIGKILL (only the watchdog is left to stop it). SIGHUP and SIGTERM take the
same path in `local up` as SIGINT, so they run `--no-dagster`; SIGTERM is what `local down` sends,
so its test is the SIGTERM one. `demo` always starts its Dagster daemon and code server, which is
cheap, so it runs all four signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ngs_lake.local.processes import free_port, http_ok
from ngs_lake_tests.conftest import REPO, SMALL_CONFIG

GONE_WITHIN = 30.0  # seconds: the bound of the wait, not a timing under test
SIGIGN_INT_TERM = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
# A refused `local up` exits at once; one that starts after all is killed (its watchdog stops
# what it started) rather than left to the test's timeout.
REFUSED_AT_ONCE = {"cwd": REPO, "text": True, "timeout": 60}


# --- the process tree, as /proc shows it -------------------------------------------------------


def _stat(pid):
    """(state, ppid, pgid, sid, start time) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])


def _processes():
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _listening_ports(pids):
    """TCP ports the given processes listen on (their socket inodes in /proc/net/tcp{,6})."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = str(fd.readlink())
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return {port for port, inode in _listeners() if inode in inodes}


def _listeners():
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if columns[3] == "0A":  # LISTEN
                yield int(columns[1].rsplit(":", 1)[1], 16), columns[9]


@dataclass
class Tree:
    """What a command started: (pid, start time) of every descendant, their groups and
    sessions, and the ports they listen on."""

    root: int
    processes: dict[int, int] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, root):
        """The root alone, taken as soon as it starts, so a test that fails early still cleans
        up what it started; `grown` adds what the root has started since."""
        return cls(root).grown()

    def grown(self):
        everything = _processes()
        known = self.processes.get(self.root)
        if self.root not in everything or known not in (None, everything[self.root][4]):
            return self  # the root is gone (its pid may be another process's by now)
        frontier = [self.root]
        while frontier:
            pid = frontier.pop()
            _, _, pgid, sid, started = everything[pid]
            self.processes[pid] = started
            self.groups |= {pgid, sid}
            frontier += [p for p, s in everything.items() if s[1] == pid]
        self.groups -= {os.getpgrp(), os.getsid(0), 0}  # never this test's own
        self.ports |= _listening_ports(self.processes)
        return self

    def names(self):
        return " | ".join(_cmdline(pid)[:100] for pid in self.processes)

    def left(self):
        """What of the tree still runs: live processes of it, of its groups or sessions, and
        ports it listened on that are still listened on."""
        everything = _processes()
        groups = {g for g in self.groups if self._still_ours(g, everything)}
        alive = [
            pid
            for pid, (state, _, pgid, sid, started) in everything.items()
            if state != "Z"
            and (self.processes.get(pid) == started or pgid in groups or sid in groups)
        ]
        ports = self.ports & {port for port, _ in _listeners()}
        return alive, ports

    def _still_ours(self, group, everything):
        """A group id is its leader's pid: while the leader runs it must be the one we saw; once
        it is gone, Linux keeps the id from reuse while any member is left."""
        leader = everything.get(group)
        return leader is None or self.processes.get(group) == leader[4]

    def wait_gone(self, within=GONE_WITHIN):
        deadline = time.monotonic() + within
        while (left := self.left()) != ([], set()):
            if time.monotonic() >= deadline:
                alive, ports = left
                self.kill_left()
                pytest.fail(
                    f"left after {within:.0f} s: ports {sorted(ports)}, processes "
                    + "; ".join(f"{pid} {_cmdline(pid)[:100]}" for pid in alive)
                )
            time.sleep(0.2)

    def kill_left(self):
        """Clean up after a failed test: only what is left of this tree, never by name."""
        for pid in self.left()[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- starting the commands ----------------------------------------------------------------------


def _environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGS_LAKE_", "AWS_"))}
    return {**env, "TMPDIR": str(tmp_path)}  # the demo's folder and Dagster's sockets land here


def local_up_argv(state, *extra):
    ports = {"moto": free_port(), "gateway": free_port(), "dagster": free_port()}
    argv = [sys.executable, "-m", "ngs_lake.cli", "local", "up", "--config", str(SMALL_CONFIG)]
    argv += ["--state", str(state), "--no-simulate", *extra]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    return argv, ports


def start(tmp_path, argv, name):
    log_path = tmp_path / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_environment(tmp_path),
            start_new_session=True,  # its own session, as in a terminal of its own
        )
    return process, log_path


def start_in_background(tmp_path, argv):
    """`argv &` in a non-interactive shell, which starts it with SIGINT and SIGQUIT ignored."""
    log_path, pid_path = tmp_path / "background.log", tmp_path / "background.pid"
    log_path.touch()  # the shell may return before the background job opens it
    command = " ".join(f"'{a}'" for a in argv) + f" >> '{log_path}' 2>&1 & echo $! > '{pid_path}'"
    subprocess.run(
        ["sh", "-c", command],
        cwd=REPO,
        env=_environment(tmp_path),
        check=True,
        start_new_session=True,  # a group of its own, so no cleanup ever reaches this test's
    )
    return int(pid_path.read_text()), log_path


def wait_for_line(log_path, text, alive, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log_path.read_text()
        if text in content:
            return content
        if not alive():
            pytest.fail(f"exited before printing {text!r}:\n{content}")
        time.sleep(0.3)
    pytest.fail(f"{text!r} not printed within {timeout} s:\n{log_path.read_text()}")


def wait_for_grpc(tree, within=120):
    """The Dagster daemon's tree is complete once its code server (`dagster api grpc`) runs."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if "api grpc" in tree.grown().names():
            return
        time.sleep(0.5)
    pytest.fail(f"no Dagster code server under {tree.root} within {within} s: {tree.names()}")


def send(root, signum):
    """Ctrl-C and a closed terminal signal the foreground group; kill(1) signals the pid."""
    if signum in (signal.SIGINT, signal.SIGHUP):
        os.killpg(root, signum)
    else:
        os.kill(root, signum)


# --- local up -------------------------------------------------------------------------------


@pytest.mark.slow
def test_local_up_started_in_the_background_stops_on_sigint(tmp_path):
    argv, ports = local_up_argv(tmp_path / "state")
    pid, log_path = start_in_background(tmp_path, argv)
    tree = Tree.of(pid)
    try:
        wait_for_line(log_path, "press Ctrl-C", lambda: _stat(pid) is not None)
        tree.grown()
        assert set(ports.values()) <= tree.ports, tree.names()
        commands = tree.names()
        for part in ("dagster dev", "code-server start", "api grpc", "dagster_webserver"):
            assert part in commands, (part, commands)
        # Neither `local up` nor what it started keeps the SIGINT it inherited ignored.
        starters = [pid] + [p for p, s in _processes().items() if s[1] == pid]
        ignoring = [p for p in starters if _ignored_signals(p) & SIGIGN_INT_TERM]
        assert ignoring == [], [_cmdline(p) for p in ignoring]
        os.kill(pid, signal.SIGINT)
        tree.wait_gone()
    finally:
        tree.kill_left()
    assert "stopping" in log_path.read_text()


def _ignored_signals(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "extra"),
    [
        pytest.param(signal.SIGKILL, (), id="SIGKILL-dagster-dev"),
        pytest.param(signal.SIGHUP, ("--no-dagster",), id="SIGHUP"),
    ],
)
def test_local_up_leaves_nothing_running(tmp_path, signum, extra):
    state = tmp_path / "state"
    argv, ports = local_up_argv(state, *extra)
    process, log_path = start(tmp_path, argv, "local-up")
    tree = Tree.of(process.pid)
    try:
        wait_for_line(log_path, "press Ctrl-C", lambda: process.poll() is None)
        tree.grown()
        expected = {k: v for k, v in ports.items() if k != "dagster" or not extra}
        assert set(expected.values()) <= tree.ports, tree.names()
        send(process.pid, signum)
        process.wait(GONE_WITHIN)
        tree.wait_gone()
    finally:
        tree.kill_left()
    if signum == signal.SIGKILL:
        assert "watchdog: stopped process group" in (state / "logs" / "watchdog.log").read_text()
    else:
        assert_stopped_by_itself(state, log_path)


def assert_stopped_by_itself(state, log_path):
    """`local up` stopped everything itself, in order, and freed its folder (the watchdog had
    nothing left to do)."""
    assert "stopping" in log_path.read_text()
    assert (state / "logs" / "watchdog.log").read_text() == ""
    assert not (state / "local-up.json").exists()


@pytest.mark.slow
def test_a_second_local_up_is_refused_and_local_down_stops_the_first(tmp_path):
    state = tmp_path / "state"
    argv, ports = local_up_argv(state, "--no-dagster")
    first, log_path = start(tmp_path, argv, "first")
    tree = Tree.of(first.pid)
    try:
        wait_for_line(log_path, "press Ctrl-C", lambda: first.poll() is None)
        tree.grown()

        second_argv, _ = local_up_argv(state, "--no-dagster")
        second = subprocess.run(
            second_argv, **REFUSED_AT_ONCE, env=_environment(tmp_path), capture_output=True
        )
        assert second.returncode == 1
        assert second.stdout.splitlines() == [
            f"error: a local lake is already running from {state} (pid {first.pid}; ports moto "
            f"{ports['moto']}, gateway {ports['gateway']}); stop it with "
            f"`ngs-lake local down --state {state}` or Ctrl-C in its terminal"
        ]
        # It started nothing and reset nothing: the first stack runs on, untouched.
        assert Tree.of(first.pid).processes == tree.processes
        assert (state / "logs" / "moto.log").exists()
        assert http_ok(f"http://127.0.0.1:{ports['moto']}/moto-api/")

        down = _local_down(tmp_path, state)
        assert down.returncode == 0, down.stdout + down.stderr
        assert f"stopping the local lake from {state} (pid {first.pid}" in down.stdout
        first.wait(GONE_WITHIN)
        tree.wait_gone()
    finally:
        tree.kill_left()
    assert_stopped_by_itself(state, log_path)  # `local down` sent it SIGTERM
    again = _local_down(tmp_path, state)
    assert again.stdout == f"no local lake is running from {state}\n"


def _local_down(tmp_path, state):
    return subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", "local", "down", "--state", str(state)],
        cwd=REPO,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_state_folder_without_the_marker_is_refused_and_kept(tmp_path):
    folder = tmp_path / "someone-elses"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    argv, _ = local_up_argv(folder, "--no-dagster")
    result = subprocess.run(
        argv, **REFUSED_AT_ONCE, env=_environment(tmp_path), capture_output=True
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"error: refusing to reset {folder}: it holds files but no .ngs-lake-state marker, so it "
        "is not a state folder of `local up`; choose a new or empty folder with --state"
    ]
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


# --- demo -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
    ids=lambda s: signal.Signals(s).name,
)
def test_demo_leaves_nothing_running(tmp_path, signum):
    keep = signum == signal.SIGINT  # one run shows --keep; the others that the folder goes
    argv = [sys.executable, "-m", "ngs_lake.cli", "demo", "--config", str(SMALL_CONFIG)]
    argv += ["--runs", "1", "--timeout", "120"] + (["--keep"] if keep else [])
    process, log_path = start(tmp_path, argv, "demo")
    tree = Tree.of(process.pid)
    try:
        output = wait_for_line(log_path, "demo: working in ", lambda: process.poll() is None)
        work = Path(output.split("demo: working in ", 1)[1].split(" (", 1)[0])
        wait_for_grpc(tree)
        commands = tree.names()
        for part in ("local.aws_server", "gateway run", "dagster-daemon run", "api grpc"):
            assert part in commands, (part, commands)
        send(process.pid, signum)
        process.wait(GONE_WITHIN)
        tree.wait_gone()
    finally:
        tree.kill_left()
    output = log_path.read_text()
    if signum == signal.SIGKILL:
        assert "watchdog: stopped process group" in (work / "state/logs/watchdog.log").read_text()
    elif keep:
        assert f"demo: kept {work}" in output
        assert (work / "state" / "logs" / "moto.log").exists()
    else:
        assert f"demo: removed {work}" in output
        assert not work.exists()
