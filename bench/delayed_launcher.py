"""`DelayedRunLauncher`: Dagster's default launcher behind a fixed start delay, standing in for an
ECS/Fargate task start (30 to 90 s) in `bench/latency.py`.

ECS's RunTask returns at once and the task starts later, so `launch_run` returns at once too: it
resolves the code server's address now (as EcsRunLauncher resolves its task definition at launch)
and a timer thread hands the run to `DefaultRunLauncher` after `delay_seconds`. Meanwhile the run
is STARTING, as an ECS run is until its task reports STARTED; the queued run coordinator counts it
against `max_concurrent_runs`, and run monitoring, if enabled, fails it after
`start_timeout_seconds`. A run no longer STARTING when its timer fires (terminated, failed by
monitoring) is not started. A launch still waiting when the daemon exits is lost and its run stays
STARTING, as a task that never started would; for a benchmark that is acceptable.

    run_launcher:
      module: bench.delayed_launcher
      class: DelayedRunLauncher
      config: {delay_seconds: 30}

The daemon must import `bench.delayed_launcher`: run it with the repo root on PYTHONPATH.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, cast

from dagster import DagsterRunStatus, Field
from dagster._core.events import EngineEventData
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.remote_representation.code_location import GrpcServerCodeLocation
from dagster._serdes.config_class import ConfigurableClassData
from dagster._utils.error import serializable_error_info_from_exc_info

DEFAULT_DELAY_SECONDS = 30.0


class DelayedRunLauncher(DefaultRunLauncher):
    """Starts each run `delay_seconds` after the daemon launched it, without blocking the daemon."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.delay_seconds = delay_seconds
        self._pending: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {
            "delay_seconds": Field(float, is_required=False, default_value=DEFAULT_DELAY_SECONDS)
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> DelayedRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if context.workspace is None or run.remote_job_origin is None:
            raise RuntimeError(f"run {run.run_id}: no workspace or job origin to launch it from")
        location = context.workspace.get_code_location(
            run.remote_job_origin.repository_origin.code_location_origin.location_name
        )
        client = cast(GrpcServerCodeLocation, location).client
        self._instance.report_engine_event(
            f"DelayedRunLauncher: starting in {self.delay_seconds:g} s, as an ECS task would",
            run,
            cls=self.__class__,
        )
        timer = threading.Timer(self.delay_seconds, self._start, args=(run.run_id, client))
        timer.daemon = True
        with self._lock:
            self._pending[run.run_id] = timer
        timer.start()

    def _start(self, run_id: str, client: Any) -> None:
        """The delayed half of the launch, on the timer's thread: what `instance.launch_run` does
        on a failed launch (engine event, run failed) is done here, since no caller is left."""
        with self._lock:
            self._pending.pop(run_id, None)
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.status != DagsterRunStatus.STARTING:
            return
        try:
            DefaultRunLauncher.launch_run_from_grpc_client(self._instance, run, client)
            self._run_ids.add(run_id)
        except Exception:
            error = serializable_error_info_from_exc_info(sys.exc_info())
            self._instance.report_engine_event(
                error.message, run, EngineEventData.engine_error(error), cls=self.__class__
            )
            self._instance.report_run_failed(run)

    def terminate(self, run_id: str) -> bool:
        with self._lock:
            timer = self._pending.pop(run_id, None)
        if timer is None:
            return super().terminate(run_id)
        timer.cancel()
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self._instance.report_run_canceled(run, message="terminated before its delayed start")
        return True

    def dispose(self) -> None:
        with self._lock:
            timers, self._pending = list(self._pending.values()), {}
        for timer in timers:
            timer.cancel()
