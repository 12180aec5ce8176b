"""deploy/Dockerfile, built and started without Docker: no engine runs here, and no base image can
be pulled, so the image is built in the user's CI. This test reads the Dockerfile with a parser
(dockerfile-parse) and carries out each instruction into a folder that stands for the image's
file system: COPY copies from the repo, ENV and WORKDIR set what the next steps see, and every RUN
step runs as written in a shell, with the image's absolute paths placed under that folder. Then
the CMD starts as the image's USER, and the code server it starts must answer the workspace's
gRPC port (`dagster api grpc-health-check`, the Helm chart's probe).

The base image's Python is this machine's Debian Python 3.11 (python:3.11-slim is Debian's too),
linked as the image's /usr/local/bin/python. The one liberty: a virtual environment made by a RUN
step sees the project venv's installed packages (a .pth line), as a warm layer cache would
provide them. So `pip install .` still resolves every requirement of setup.py and builds and
installs ngs_lake itself from the copied sources, but downloads no dependency. That layer is a
copy of the project venv's packages (hard links) in a folder the image's user can reach: the
checkout may sit in a folder of mode 0700 that only root may enter.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import site
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import pytest
from dockerfile_parse import DockerfileParser

from ngs_lake.local.processes import ManagedProcess, free_port
from ngs_lake_tests.conftest import REPO
from ngs_lake_tests.reachable_copy import reachable_copy, reachable_folder
from ngs_lake_tests.test_deployment import read_env_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DOCKERFILE = REPO / "deploy" / "Dockerfile"
# Where the base image keeps Python, and where this image puts everything it adds.
IMAGE_PATHS = re.compile(r"(?<![\w./-])(/opt/|/usr/local/bin\b|/root\b)")
BASE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"  # python:3.11-slim's
# Readable by the image's user, unlike an interpreter under /root; the same ABI as the project
# venv's (cp311), so its compiled packages load.
BASE_PYTHON = Path("/usr/bin/python3.11")


@dataclass
class ImageBuild:
    """The image's file system under `root`, and what the instructions so far have set."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "0"
    cmd: list[str] = field(default_factory=list)
    exposed: list[int] = field(default_factory=list)
    seeded: set[Path] = field(default_factory=set)
    base_layer: list[Path] = field(default_factory=list)  # the warm cache's packages

    def path(self, image_path: str) -> Path:
        absolute = image_path if image_path.startswith("/") else f"{self.workdir}/{image_path}"
        return self.root / absolute.lstrip("/")

    def place(self, text: str) -> str:
        """The image's absolute paths, placed under `root`."""
        return IMAGE_PATHS.sub(lambda match: f"{self.root}{match.group(0)}", text)

    def shell_env(self) -> dict[str, str]:
        """What a RUN step or the CMD sees: the image's environment over the base image's
        (its PATH, a home), with the image's paths placed under `root`."""
        base = {"PATH": BASE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        return {k: self.place(v) for k, v in {**base, **self.env}.items()}

    def seed_new_venvs(self) -> None:
        """A venv a RUN step made sees the project venv's packages (the module docstring)."""
        for config in self.root.rglob("pyvenv.cfg"):
            if config not in self.seeded:
                (site_packages,) = config.parent.glob("lib/python3*/site-packages")
                (site_packages / "_image_base_layer.pth").write_text(
                    "\n".join(str(path) for path in self.base_layer) + "\n"
                )
                self.seeded.add(config)


def _env_pairs(value: str, env: dict[str, str]) -> dict[str, str]:
    """ENV k=v pairs, with $VAR and ${VAR} taken from the image's environment so far."""
    pairs = (word.split("=", 1) for word in shlex.split(value))
    return {key: Template(raw).safe_substitute(env) for key, raw in pairs}


def _copy(build: ImageBuild, value: str) -> None:
    *sources, destination = shlex.split(value)
    target = build.path(destination)
    for source in sources:
        origin = REPO / source
        into = target / origin.name if destination.endswith("/") else target
        into.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, into)


def _run(build: ImageBuild, command: str) -> None:
    cwd = build.path(build.workdir)
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["/bin/sh", "-c", build.place(command)],
        cwd=cwd,
        env=build.shell_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"RUN {command}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    build.seed_new_venvs()


def build_image(root: Path, base_layer: list[Path]) -> ImageBuild:
    """Carry out the Dockerfile's instructions; an instruction this test can't honour fails it,
    so the Dockerfile can't grow a step that goes untested."""
    build = ImageBuild(root, base_layer=base_layer)
    (root / "root").mkdir()
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (root / "usr" / "local" / "bin" / "python").symlink_to(BASE_PYTHON)
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        kind, value = instruction["instruction"], instruction["value"]
        if kind in ("COMMENT", "FROM"):
            continue
        if kind == "ENV":
            build.env.update(_env_pairs(value, {"PATH": BASE_PATH, **build.env}))
        elif kind == "WORKDIR":
            build.workdir = value
            build.path(value).mkdir(parents=True, exist_ok=True)
        elif kind == "COPY":
            _copy(build, value)
        elif kind == "RUN":
            _run(build, value)
        elif kind == "USER":
            build.user = value
        elif kind == "EXPOSE":
            build.exposed += [int(port.split("/")[0]) for port in value.split()]
        elif kind == "CMD":
            build.cmd = json.loads(value)
        else:
            raise AssertionError(f"{kind} {value}: not carried out by this test; teach it")
    return build


@pytest.fixture(scope="module")
def image() -> Iterator[ImageBuild]:
    if os.geteuid() != 0:
        pytest.skip(
            "the RUN steps chown to the image's user, which needs root, as docker build has"
        )
    root = reachable_folder("ngs-lake-image-")  # the image's user must reach its files
    layer = reachable_folder("ngs-lake-image-base-layer-")
    try:
        packages = [
            reachable_copy(Path(path), layer / str(n))
            for n, path in enumerate(site.getsitepackages())
        ]
        yield build_image(root, packages)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(layer, ignore_errors=True)


def test_the_image_installs_ngs_lake_from_the_copied_sources(image):
    """The venv's ngs_lake is the one pip built from setup.py, not the checkout's."""
    python = image.root / "opt" / "venv" / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import ngs_lake.definitions as d; print(d.__file__)"],
        env=image.shell_env(),
        cwd=image.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(image.root / "opt" / "venv"), where
    assert (image.root / "opt" / "dagster" / "home" / "dagster.yaml").is_file()
    assert (image.root / "opt" / "dagster" / "home").stat().st_uid == 10001


def test_the_cmd_serves_the_code_location_on_the_workspace_port(image, tmp_path):
    """The CMD, as the image's non-root USER, with the environment deploy/env documents for the
    code server: its gRPC port answers the health check the webserver and the daemon rely on."""
    assert image.user.split(":")[0] not in ("0", "root")
    port = free_port()
    documented = {
        **read_env_file(REPO / "deploy" / "env" / "lake.env"),
        **read_env_file(REPO / "deploy" / "env" / "code-server.env"),
    }
    env = {
        **image.shell_env(),
        **{k: image.place(v) for k, v in documented.items()},
        "DAGSTER_GRPC_HOST": "127.0.0.1",  # loopback here; the image listens on 0.0.0.0
        "DAGSTER_GRPC_PORT": str(port),
        "NGS_LAKE_CONFIG": image.place("/opt/ngs_lake/config/lake.yaml"),
    }
    workspace = read_env_file(REPO / "deploy" / "env" / "workspace.env")
    assert image.exposed == [int(workspace["DAGSTER_CODE_SERVER_PORT"])]
    uid, _, gid = image.user.partition(":")
    server = ManagedProcess(
        "image-cmd",
        ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--", *image.cmd],
        env,
        tmp_path / "image-cmd.log",
        cwd=image.path(image.workdir),
    )
    try:
        server.start().wait_ready(lambda: _serving(port), timeout=180)
        # The probe as an orchestrator runs it: the image's own CLI, from the image's venv.
        probe = subprocess.run(
            ["python", "-m", "dagster", "api", "grpc-health-check", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        server.stop()
    assert probe.returncode == 0, probe.stdout + probe.stderr
    log = (tmp_path / "image-cmd.log").read_text()
    assert "Started Dagster code server for module ngs_lake.definitions" in log


def _serving(port: int) -> bool:
    """In-process polling; a health-check subprocess per poll would cost a core for seconds."""
    from dagster._grpc.client import DagsterGrpcClient

    try:
        return DagsterGrpcClient(port=port, host="127.0.0.1").health_check_query() == "SERVING"
    except Exception:  # DagsterUserCodeUnreachableError until the port answers
        return False
