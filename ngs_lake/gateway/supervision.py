"""The gateway's loops under supervision: a pass that raises is logged with its traceback and run
again after a backoff, and each loop's last success and last error stay visible on /health.

A loop that dies silently is the worst failure a gateway has: files pile up in the share while
the API still answers. Written here rather than with a retry library because what is needed is
the health record beside the retry: tenacity is not installed, and `backoff` is in the venv only
as a dependency of gql, not of ngs_lake.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FIRST_RESTART_SECONDS = 0.5
MAX_RESTART_SECONDS = 10.0


@dataclass
class LoopHealth:
    """What /health reports for one loop; times are Unix seconds."""

    name: str
    state: str = "starting"  # starting | running | restarting | stopped
    last_success_at: float | None = None
    last_error_at: float | None = None
    last_error: str | None = None
    restarts: int = 0
    consecutive_failures: int = 0

    @property
    def down(self) -> bool:
        return self.state in ("restarting", "stopped")

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "last_success_at": self.last_success_at,
            "last_error_at": self.last_error_at,
            "last_error": self.last_error,
            "restarts": self.restarts,
        }


def restart_delay(consecutive_failures: int) -> float:
    """0.5 s after the first failure, doubling up to 10 s: a loop that keeps failing is retried
    soon enough to recover once its cause is fixed, and logs at most 6 tracebacks a minute."""
    return min(MAX_RESTART_SECONDS, FIRST_RESTART_SECONDS * 2 ** max(0, consecutive_failures - 1))


class SupervisedLoop:
    """Runs `step` until `stop` is set; `step` does one pass and returns how long to wait before
    the next (0 for at once). Any exception from a pass is a loop failure, never the end.

    `quiet` names the failures that are expected now and then (an AWS endpoint that does not
    answer): they are logged in one line, every other failure with its traceback.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], float],
        stop: threading.Event,
        quiet: tuple[type[Exception], ...] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.stop = stop
        self.quiet = quiet
        self.health = LoopHealth(name)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> LoopHealth:
        with self._lock:
            health = LoopHealth(**vars(self.health))
        if self._thread is not None and not self._thread.is_alive() and not self.stop.is_set():
            health.state = "stopped"  # cannot happen short of interpreter shutdown; shown if so
        return health

    def _run(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                self.health.state = "running"
            try:
                pause = self.step()
            except Exception as exc:  # any failure of a pass: record it, back off, run again
                delay = self._failed(exc)
                if isinstance(exc, self.quiet):
                    log.warning("gateway loop %s: %s; retrying in %.1f s", self.name, exc, delay)
                else:
                    log.exception("gateway loop %s failed; restarting in %.1f s", self.name, delay)
                self.stop.wait(delay)
                continue
            with self._lock:
                self.health.last_success_at = time.time()
                self.health.consecutive_failures = 0
            if pause > 0:
                self.stop.wait(pause)
        with self._lock:
            self.health.state = "stopped"

    def _failed(self, exc: Exception) -> float:
        with self._lock:
            health = self.health
            health.state = "restarting"
            health.last_error_at = time.time()
            health.last_error = f"{type(exc).__name__}: {exc}"
            health.consecutive_failures += 1
            health.restarts += 1
            return restart_delay(health.consecutive_failures)
