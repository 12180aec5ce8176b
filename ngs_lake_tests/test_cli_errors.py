"""Mistakes at the command line, as a new user makes them: each ends in one line that names the
resource and the fix, exit status 1, and no traceback; and every command that reaches AWS says
where it goes before its first call. Real `ngs-lake` processes against the moto server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ngs_lake.local.processes import free_port
from ngs_lake_tests.conftest import CREDENTIALS, SMALL_CONFIG, run_cli

NO_CREDENTIALS = (
    "Error: no AWS credentials: paste the exports that `ngs-lake local up` printed, or "
    "configure AWS (AWS_PROFILE, `aws configure` or `aws sso login`)"
)


def ngs_lake(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", *args, "--config", str(SMALL_CONFIG)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,  # a command that should refuse at once but starts (a gateway) fails here
    )


def fresh_environment(home: Path) -> dict[str, str]:
    """A new user's shell before pasting any export: no AWS variable and no ~/.aws. Instance
    metadata is off, as it is off EC2, so botocore does not wait on its address."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true"}
    if "PYTHONPATH" in os.environ:  # a checkout other than the venv's runs its own code
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("runs", "list"),
        ("runs", "show", "NVX-MAD-01/20261129_LH00123_0042_A22F7KLT4"),
        ("dlq", "list"),
        ("catalog", "query", "SELECT 1"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_fresh_environment_without_exports_gets_one_line(tmp_path, args):
    result = ngs_lake(fresh_environment(tmp_path), tmp_path, *args)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [NO_CREDENTIALS]
    assert result.stdout == ""


def test_the_gateway_without_credentials_gets_one_line(tmp_path, moto):
    env = {
        **fresh_environment(tmp_path),
        "NGS_LAKE_TARGET": "local",
        "NGS_LAKE_AWS_ENDPOINT_URL": moto.endpoint,
    }
    # With --account it asks STS nothing: only its own check stops it before it serves.
    account = ("--account", "123456789012")
    result = ngs_lake(env, tmp_path, "gateway", "run", "--port", str(free_port()), *account)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [NO_CREDENTIALS]


def test_a_stopped_lake_gets_one_line_naming_its_endpoint(tmp_path):
    stopped = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(stopped, stopped, SMALL_CONFIG, "runs", "list")
    assert result.returncode == 1
    target, error = result.stderr.splitlines()  # the target named, then one line: no traceback
    assert target == (
        f"target: local stand-in at {stopped}, region us-east-1; Storage Gateway API at {stopped}"
    )
    assert error == (
        f"Error: cannot reach {stopped}/: start the local lake (`make run` or "
        "`ngs-lake local up`), or unset NGS_LAKE_AWS_ENDPOINT_URL to reach AWS"
    )


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (("dlq", "list"), "queue small-lake-gateway-events-dlq"),
        (("runs", "list"), "table small-lake-runs"),
    ],
    ids=["dlq list", "runs list"],
)
def test_a_resource_not_provisioned_is_named_with_the_fix(moto, args, missing):
    result = run_cli(moto.endpoint, f"http://127.0.0.1:{free_port()}", SMALL_CONFIG, *args)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: {missing} does not exist: run `ngs-lake provision --apply`"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("dlq", "list"),
        ("dlq", "redrive"),
        ("catalog", "query", "SELECT 1", "--state", "{tmp}"),
        ("provision", "--plan"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_every_command_that_reaches_aws_names_its_target_first(moto, tmp_path, args):
    # An empty lake: each command fails on its first missing resource, after naming the target.
    gateway = f"http://127.0.0.1:{free_port()}"
    args = tuple(a.format(tmp=tmp_path) for a in args)
    result = run_cli(moto.endpoint, gateway, SMALL_CONFIG, *args)
    assert result.stderr.splitlines()[0] == (
        f"target: local stand-in at {moto.endpoint}, region us-east-1; "
        f"Storage Gateway API at {gateway}"
    )


def test_on_aws_the_target_is_the_account_from_sts(moto, tmp_path):
    env = {
        **fresh_environment(tmp_path),
        **CREDENTIALS,
        "NGS_LAKE_TARGET": "aws",
        "NGS_LAKE_AWS_ENDPOINT_URL": moto.endpoint,  # AWS's STS, as moto answers it
    }
    result = ngs_lake(env, tmp_path, "dlq", "list")
    assert result.stderr.splitlines()[0] == (
        "target: AWS account 123456789012 as arn:aws:sts::123456789012:user/moto, region "
        f"us-east-1, through {moto.endpoint}"
    )


def test_a_local_target_without_its_endpoint_is_refused(tmp_path):
    env = {**fresh_environment(tmp_path), **CREDENTIALS, "NGS_LAKE_TARGET": "local"}
    result = ngs_lake(env, tmp_path, "status")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Error: NGS_LAKE_TARGET=local, but NGS_LAKE_AWS_ENDPOINT_URL is unset, so calls would go "
        "to AWS: paste the exports that `ngs-lake local up` printed"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("runs", "list", "--site", "madisn"),
            "Error: Invalid value for --site: unknown site 'madisn'; did you mean madison? "
            "(known: madison)",
        ),
        (
            ("dlq", "list", "--site", "bostn"),
            "Error: Invalid value for --site: unknown site 'bostn' (known: madison)",
        ),
        (
            ("simulate", "--sequencer", "NVX-MAD-1", "--into", "x"),
            "Error: Invalid value for --sequencer: unknown sequencer 'NVX-MAD-1'; did you mean "
            "NVX-MAD-01? (known: MIS-MAD-01, NVX-MAD-01, PRM-MAD-01)",
        ),
        (
            ("runs", "list", "--state", "STALED"),
            "Error: Invalid value for '--state': 'STALED' is not one of 'STARTED', "
            "'MARKER_SEEN', 'UPLOAD_CONFIRMED', 'COMPLETED', 'STALLED', 'INCOMPLETE', "
            "'ABORTED', 'NEEDS_ATTENTION'.",
        ),
    ],
    ids=["runs site", "dlq site", "sequencer", "state"],
)
def test_an_unknown_site_sequencer_or_state_is_refused_naming_the_known_ones(
    tmp_path, args, message
):
    """Refused before any AWS call (no credentials here), never answered with "no runs"."""
    result = ngs_lake(fresh_environment(tmp_path), tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == message
