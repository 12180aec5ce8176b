"""Child processes that the local lake starts, watches and stops as one group each.

Each child runs in its own session so that stopping it also stops what it started (`dagster dev`
starts a webserver, a daemon and code servers), and logs to a file so the terminal stays readable.
A watchdog (`process_groups`) stops the groups when their parent dies without stopping them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ngs_lake.local.process_groups import ProcessWatchdog, start_time, stop_group

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def moto_server_argv(port: int) -> list[str]:
    """The local AWS stand-in: one moto server over HTTP on loopback."""
    return [sys.executable, "-m", "ngs_lake.local.aws_server", "-H", "127.0.0.1", "-p", str(port)]


def gateway_argv(config_path: Path, state_dir: Path, port: int) -> list[str]:
    """The software gateway, serving the Storage Gateway API on loopback."""
    return [
        sys.executable,
        "-m",
        "ngs_lake.cli",
        "gateway",
        "run",
        "--config",
        str(config_path),
        "--state",
        str(state_dir),
        "--port",
        str(port),
    ]


def dagster_daemon_argv(workspace: Path) -> list[str]:
    """A `dagster-daemon` (sensors, schedules, run queue) loading `workspace`, from this venv."""
    return [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)]


def link_dagster_home(home: Path, project_dir: Path) -> None:
    """Make `home` a Dagster home whose instance config is the project's `dagster.yaml`, linked so
    that the file in the repo is the one in effect."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").symlink_to(project_dir / "dagster.yaml")


def dagster_environment(
    home: Path, project_dir: Path, config_path: Path, sensor_interval_seconds: int
) -> dict[str, str]:
    """Link `home` (`link_dagster_home`) and return what a Dagster process of the lake reads
    besides its AWS endpoints: the home, the config document, the sensors' interval, and the
    catalogue bucket that holds the document in force (pinned at start, as a deployment pins it,
    so a restart finds the record whatever the file holds by then)."""
    from ngs_lake.provisioning.document_in_force import CATALOG_BUCKET_ENV, record_address

    link_dagster_home(home, project_dir)
    env = {
        "DAGSTER_HOME": str(home),
        "NGS_LAKE_CONFIG": str(config_path),
        "NGS_LAKE_SENSOR_INTERVAL_SECONDS": str(sensor_interval_seconds),
    }
    address = record_address(config_path.read_bytes()) if config_path.is_file() else None
    if address is not None:
        env[CATALOG_BUCKET_ENV] = address.bucket
    return env


class ProcessFailed(RuntimeError):
    """A child exited or never became ready; the message points at its log."""


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    watchdog: ProcessWatchdog | None = None  # stops the group if this process dies first
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _started: int | None = field(default=None, repr=False)  # the leader's start time

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._popen = subprocess.Popen(
            list(self.argv),
            env=dict(self.env),
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._started = start_time(self._popen.pid)
        if self.watchdog is not None:
            self.watchdog.guard(self._popen.pid)
        return self

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self._popen.pid

    @property
    def started(self) -> int | None:
        """The leader's start time: with its pid, it names the process for good."""
        return self._started

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                raise ProcessFailed(
                    f"{self.name} exited with code {self.exit_code()}; see {self.log_path}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise ProcessFailed(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}")

    def signal(self, signum: int) -> None:
        """Send a signal to the whole group (SIGSTOP and SIGCONT included, for fault tests)."""
        if self._popen is not None and self._popen.poll() is None:
            os.killpg(self._popen.pid, signum)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole group and SIGKILL what is left of it after `grace`: a member can
        outlive its leader (`dagster dev`'s webserver, `dagster dev` gone)."""
        if self._popen is None:
            return
        stop_group(self._popen.pid, self._started, grace)
        self._popen.wait()
        if self.watchdog is not None:
            self.watchdog.release(self._popen.pid)


def interrupt_on_signal(signum: int, frame: object) -> None:
    """A SIGTERM or SIGHUP handler that unwinds like Ctrl-C, so `finally` blocks stop the
    children."""
    raise KeyboardInterrupt


def unwind_on_stop_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) all unwind, whatever was inherited: a
    background start (`make run &`) inherits SIGINT ignored, an ignored signal stays ignored
    across exec, and Dagster maps SIGTERM onto SIGINT's handler, so `dagster dev` would ignore
    both."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    signal.signal(signal.SIGHUP, interrupt_on_signal)


def ignore_stop_signals() -> None:
    """While the children stop: a second Ctrl-C must not cut their stopping short."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
