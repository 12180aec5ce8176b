"""Risky commands: a confirmation before anything irreversible, shares only, a quiet plan, and
DLQ tools that long-poll. Real `ngs-lake` processes against the moto server and a gateway."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from ngs_lake_tests.conftest import SMALL_CONFIG, local_environment, run_cli
from ngs_lake_tests.fault_proxy import FaultProxy

# The sequencers' buckets and the fixity evidence bucket (issue #33), sorted.
LOCKED = (
    "small-lake-fixity-evidence, small-lake-mis-mad-01, small-lake-nvx-mad-01, "
    "small-lake-prm-mad-01"
)


def provision(gateway, moto, *args: str, env: dict[str, str] | None = None):
    """`ngs-lake provision` with stdin not a terminal, as in a script or CI."""
    return subprocess.run(
        [sys.executable, "-m", "ngs_lake.cli", "provision", *args, "--config", str(SMALL_CONFIG)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env or {**local_environment(moto.endpoint, gateway.endpoint), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def bucket_names(moto) -> list[str]:
    return [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]


def test_apply_refuses_without_yes_when_stdin_is_not_a_terminal(moto, start_gateway):
    gateway = start_gateway(SMALL_CONFIG)
    refused = provision(gateway, moto, "--apply")
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    digest = refused.stdout.splitlines()[-1].removeprefix("plan digest: ")
    assert len(digest) == 64
    assert lines[-2] == (
        f"about to apply plan {digest}: 93 changes to local stand-in at {moto.endpoint}, "
        f"region us-east-1; Storage Gateway API at {gateway.endpoint} (93 create)"
    )
    assert lines[-1] == (
        "Error: not applied: stdin is not a terminal, so no one can confirm; read the plan, then "
        f"run `ngs-lake provision --apply --yes --digest {digest}`"
    )
    assert bucket_names(moto) == []  # nothing was created

    applied = provision(gateway, moto, "--apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "applied 93 changes" in applied.stdout
    again = provision(gateway, moto, "--apply")  # nothing to do: nothing to confirm
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == "nothing to apply: every resource is up to date"


def test_on_aws_apply_calls_out_the_locked_buckets_and_asks_first(moto, start_gateway):
    gateway = start_gateway(SMALL_CONFIG)
    env = {
        **local_environment(moto.endpoint, gateway.endpoint),
        "NGS_LAKE_TARGET": "aws",  # moto stands in for AWS's API
        "PATH": "/usr/bin:/bin",
    }
    answer = at_a_terminal(
        [
            sys.executable,
            "-m",
            "ngs_lake.cli",
            "provision",
            "--apply",
            "--config",
            str(SMALL_CONFIG),
        ],
        env,
        typed=b"n\n",
    )
    assert (
        "IRREVERSIBLE: creates 4 buckets under Object Lock COMPLIANCE with 365-day retention "
        f"({LOCKED}); the lock cannot be removed, and no one, the account's root user included, "
        "can delete what they hold or the buckets themselves before the retention ends"
    ) in answer
    assert "Apply these changes? [y/N]: n" in answer
    assert "Error: not applied: declined" in answer
    assert bucket_names(moto) == []


def at_a_terminal(argv: list[str], env: dict[str, str], typed: bytes) -> str:
    """Run `argv` with a pseudo-terminal as stdin, stdout and stderr; type `typed` once asked."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            chunk = os.read(controller, 4096)
            if not chunk:
                break
            seen += chunk
        os.write(controller, typed)
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child closed the terminal: it has exited
                break
            if not chunk:
                break
            seen += chunk
    finally:
        process.wait(timeout=60)
        os.close(controller)
    return seen.decode(errors="replace").replace("\r\n", "\n")


def test_the_plan_shows_policies_only_when_asked(moto, start_gateway):
    gateway = start_gateway(SMALL_CONFIG)
    quiet = provision(gateway, moto, "--plan")
    assert quiet.returncode == 0, quiet.stderr
    assert '"Statement"' not in quiet.stdout
    *_, counts, digest = quiet.stdout.splitlines()
    assert counts == "plan: 93 create, 0 update, 0 no-op, 0 retained, 0 move, 0 remove"
    assert re.fullmatch(r"plan digest: [0-9a-f]{64}", digest)
    shown = provision(gateway, moto, "--plan", "--show-policies")
    policies = json.loads(shown.stdout[shown.stdout.index("\n{") :])
    assert all("Statement" in document for document in policies.values())


def simulate(lake, into: Path, *more: str):
    return lake.cli(
        "simulate",
        "--platform",
        "aviti",
        "--duration",
        "0s",
        "--max-file-size",
        "1 KiB",
        "--into",
        str(into),
        *more,
    )


def test_simulate_writes_only_into_a_share_of_the_local_lake(lake, tmp_path):
    share = lake.share_folder("NVX-MAD-01")
    typo = share.parent / "NVX-MAD-0l"
    refused = simulate(lake, typo)
    assert refused.returncode == 2
    assert (
        f"Invalid value for --into: {typo} is no share of the local lake in "
        f"{lake.gateway.state_dir}: gateway {share.parent.name} serves MIS-MAD-01, NVX-MAD-01; "
        "pass --force to write there anyway"
    ) in " ".join(refused.stderr.split())
    assert not typo.exists()
    elsewhere = simulate(lake, tmp_path / "typo")
    assert elsewhere.returncode == 2
    assert "is no share of a local lake" in elsewhere.stderr
    assert not (tmp_path / "typo").exists()

    assert simulate(lake, tmp_path / "typo", "--force").returncode == 0
    written = simulate(lake, share)
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith(f"aviti {share}/")


def test_dlq_tools_long_poll_and_stop_after_one_empty_poll(lake):
    """Every receive asks WaitTimeSeconds=20, and one empty long poll ends the listing.

    moto answers every receive from all messages, so it cannot show the short poll's miss;
    what the CLI asks for is read at a proxy between the CLI and moto, which then lowers the
    wait to 1 s so that the listing's last, empty poll does not hold the test for 20 s.
    """
    dlq = lake.queue_url(lake.names.dead_letter_queue)
    for body in ("one", "two", "three"):
        lake.moto.client("sqs").send_message(QueueUrl=dlq, MessageBody=body)
    with FaultProxy(int(lake.moto.endpoint.rsplit(":", 1)[1])) as proxy:
        receives = proxy.faults.record("ReceiveMessage")
        proxy.faults.rewrites["ReceiveMessage"] = lambda body: json.dumps(
            {**json.loads(body), "WaitTimeSeconds": 1}
        ).encode()
        for command, expected in (("list", "3 parked messages"), ("redrive", "redrove 3")):
            receives.clear()
            result = run_cli(
                proxy.endpoint, lake.gateway.endpoint, lake.config_path, "dlq", command
            )
            assert result.returncode == 0, result.stderr
            assert expected in result.stdout
            # One receive finds the three messages, the next finds none and ends the listing.
            assert [json.loads(b).get("WaitTimeSeconds") for b in receives] == [20, 20], command
