"""Fixtures that start real processes: a moto server over HTTP and the software gateway.

The moto server lives for the session and is reset before each test that uses it; gateways are
started per test with their own state folder. Nothing here patches boto3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from ngs_lake.aws.clients import AwsClients, AwsTarget
from ngs_lake.local.processes import (
    ManagedProcess,
    dagster_daemon_argv,
    dagster_environment,
    free_port,
    gateway_argv,
    http_ok,
    moto_server_argv,
)
from ngs_lake.orchestration.resources import AwsConnection, LakeConfigResource
from ngs_lake_tests.scheduling import longest_first, make_scheduler

pytest_plugins = ["ngs_lake_tests.lake_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests start first, so the xdist workers finish together instead of one
    waiting on the whole-system test at the end (ngs_lake_tests/scheduling.py)."""
    longest_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """loadscope that keeps a module whole only where it shares a stack between its tests."""
    return make_scheduler(config, log)


REPO = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPO / "config" / "lake.yaml"
SMALL_CONFIG = REPO / "config" / "examples" / "small.yaml"
ACCOUNT = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The key pair the gateway's API checks signatures against; every client here signs with it.
GATEWAY_CREDENTIALS = {
    "NGS_LAKE_GATEWAY_ACCESS_KEY_ID": "testing",
    "NGS_LAKE_GATEWAY_SECRET_ACCESS_KEY": "testing",
}


@dataclass
class MotoServer:
    endpoint: str
    process: ManagedProcess

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def client(self, service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    port = free_port()
    logs = tmp_path_factory.mktemp("moto")
    process = ManagedProcess(
        "moto",
        moto_server_argv(port),
        {**os.environ, **CREDENTIALS},
        logs / "moto.log",
    ).start()
    endpoint = f"http://127.0.0.1:{port}"
    process.wait_ready(lambda: http_ok(f"{endpoint}/moto-api/"))
    yield MotoServer(endpoint, process)
    process.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied for this test."""
    moto_server.reset()
    return moto_server


@dataclass
class Gateway:
    endpoint: str
    state_dir: Path
    process: ManagedProcess
    config_path: Path

    def client(self) -> object:
        return boto3.client(
            "storagegateway",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def restart(self) -> None:
        self.process.stop()
        self.process.start()
        self.process.wait_ready(lambda: http_ok(f"{self.endpoint}/health"))


@pytest.fixture
def start_gateway(tmp_path: Path, moto: MotoServer) -> Iterator[Callable[[Path], Gateway]]:
    started: list[Gateway] = []

    def start(config_path: Path) -> Gateway:
        port = free_port()
        state = tmp_path / f"state-{len(started)}"
        env = {
            **os.environ,
            **CREDENTIALS,
            **GATEWAY_CREDENTIALS,
            "NGS_LAKE_AWS_ENDPOINT_URL": moto.endpoint,
            "NGS_LAKE_TARGET": "local",
        }
        process = ManagedProcess(
            "gateway",
            gateway_argv(config_path, state, port),
            env,
            tmp_path / f"gateway-{len(started)}.log",
        ).start()
        endpoint = f"http://127.0.0.1:{port}"
        process.wait_ready(lambda: http_ok(f"{endpoint}/health"))
        gateway = Gateway(endpoint, state, process, config_path)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.process.stop()


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, moto: MotoServer) -> MotoServer:
    """This process's environment pointed at the moto server as the `local` target."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("NGS_LAKE_AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("NGS_LAKE_TARGET", "local")
    return moto


def lake_clients(
    moto: MotoServer, gateway: Gateway, session: boto3.Session | None = None
) -> AwsClients:
    target = AwsTarget(
        region="us-east-1",
        endpoint_url=moto.endpoint,
        storagegateway_endpoint_url=gateway.endpoint,
        name="local",
    )
    return AwsClients(
        target,
        credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
        session=session,
    )


def edited_config(tmp_path: Path, source: Path, edit: Callable[[dict], None], name: str) -> Path:
    """A copy of a config document with one edit applied, as a user would make it."""
    document = yaml.safe_load(source.read_text())
    edit(document)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def copy_config(tmp_path: Path, source: Path) -> Path:
    path = tmp_path / source.name
    shutil.copy(source, path)
    return path


def local_environment(aws_endpoint: str, gateway_endpoint: str) -> dict[str, str]:
    """What a child process needs to reach these servers as the `local` target."""
    return {
        **CREDENTIALS,
        "AWS_REGION": "us-east-1",
        "NGS_LAKE_AWS_ENDPOINT_URL": aws_endpoint,
        "NGS_LAKE_STORAGEGATEWAY_ENDPOINT_URL": gateway_endpoint,
        "NGS_LAKE_TARGET": "local",
    }


def dagster_resources(
    aws_endpoint: str, gateway_endpoint: str, config_path: Path
) -> dict[str, Any]:
    """The resources a Dagster run or sensor of this lake gets, pointed at these servers."""
    return {
        "aws": AwsConnection(
            region_name="us-east-1",
            endpoint_url=aws_endpoint,
            storagegateway_endpoint_url=gateway_endpoint,
            target="local",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ),
        "lake": LakeConfigResource(path=str(config_path)),
    }


def run_cli(
    aws_endpoint: str, gateway_endpoint: str, config_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`ngs-lake <args> --config <config_path>` in a child process pointed at these servers."""
    return subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        env={**local_environment(aws_endpoint, gateway_endpoint), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def start_daemon(
    work: Path, aws_endpoint: str, gateway_endpoint: str, config_path: Path
) -> ManagedProcess:
    """A real `dagster-daemon` on the repo's workspace.yaml and dagster.yaml, sensors every 2 s."""
    env = {
        **os.environ,
        **local_environment(aws_endpoint, gateway_endpoint),
        **dagster_environment(work / "dagster_home", REPO, config_path, sensor_interval_seconds=2),
    }
    return ManagedProcess(
        "dagster-daemon",
        dagster_daemon_argv(REPO / "workspace.yaml"),
        env,
        work / "daemon.log",
        cwd=REPO,
    ).start()
