"""bench/latency.py's delayed launcher loads from a dagster.yaml the way the daemon loads it: a
broken config schema would only show as a daemon that never starts in the middle of a benchmark."""

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.ref import InstanceRef

from bench.delayed_launcher import DelayedRunLauncher


def instance_with(tmp_path, config: dict) -> DagsterInstance:
    launcher = {"module": "bench.delayed_launcher", "class": "DelayedRunLauncher", "config": config}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"run_launcher": launcher}))
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))


def test_the_delayed_launcher_loads_with_its_delay_from_dagster_yaml(tmp_path):
    with instance_with(tmp_path, {"delay_seconds": 7}) as instance:
        assert type(instance.run_launcher) is DelayedRunLauncher
        assert instance.run_launcher.delay_seconds == 7.0


def test_a_misspelt_launcher_setting_is_refused(tmp_path):
    with (
        instance_with(tmp_path, {"delay_secs": 7}) as instance,
        pytest.raises(DagsterInvalidConfigError, match="delay_secs"),
    ):
        instance.run_launcher  # noqa: B018 (Dagster builds the launcher on first use)
