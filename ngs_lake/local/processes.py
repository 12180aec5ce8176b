"""Child processes that the local lake starts, watches and stops as one group each.

Each child runs in its own session so that stopping it also stops what it started (`dagster dev`
starts a webserver, a daemon and code servers), and logs to a file so the terminal stays readable.
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
    besides its AWS endpoints: the home, the config document and the sensors' interval."""
    link_dagster_home(home, project_dir)
    return {
        "DAGSTER_HOME": str(home),
        "NGS_LAKE_CONFIG": str(config_path),
        "NGS_LAKE_SENSOR_INTERVAL_SECONDS": str(sensor_interval_seconds),
    }


class ProcessFailed(RuntimeError):
    """A child exited or never became ready; the message points at its log."""


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

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
        return self

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self._popen.pid

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
        if self._popen is None or self._popen.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self._popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self._popen.wait()


def interrupt_on_signal(signum: int, frame: object) -> None:
    """A SIGTERM handler that unwinds like Ctrl-C, so `finally` blocks stop the children."""
    raise KeyboardInterrupt


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
