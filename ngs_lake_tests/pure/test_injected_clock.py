"""The run core and the alerts read time only through the injected clock (`runs/clock.py`), so
the deterministic simulation's virtual clock reaches every decision: one wall-clock read left
in `runs/` or `alerts/` would make a simulated history depend on the machine's time."""

import re

from ngs_lake_tests.conftest import REPO

CLOCKED = ("ngs_lake/runs", "ngs_lake/alerts")
CLOCK_MODULE = "ngs_lake/runs/clock.py"
WALL_CLOCK = re.compile(
    r"\bdatetime\.(now|utcnow|today)\b"
    r"|\bdate\.today\b"
    r"|\btime\.(time|time_ns|monotonic|monotonic_ns|perf_counter|perf_counter_ns)\b"
    r"|\bfrom time import\b"
    r"|\butc_iso\(\s*\)"
)


def wall_clock_reads() -> list[str]:
    found = []
    for folder in CLOCKED:
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            if relative == CLOCK_MODULE:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if WALL_CLOCK.search(line.split("#", 1)[0]):
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_runs_and_alerts_read_no_wall_clock_outside_the_injected_clock():
    assert wall_clock_reads() == []


def test_the_wall_clock_pattern_sees_each_kind_of_read():
    """The pattern itself, against the reads the clock replaced (so the test above can fail)."""
    for read in (
        "now = datetime.now(UTC)",
        "expires = int(time.time()) + 86400",
        "deadline = time.monotonic() + budget",
        "clock: Callable[[], float] = time.monotonic,",
        '"recorded_at": utc_iso(),',
    ):
        assert WALL_CLOCK.search(read), read
    assert not WALL_CLOCK.search('"recorded_at": utc_iso(self.clock.now()),')
