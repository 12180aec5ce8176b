"""Carries out a plan through the file system only, on the plan's clock, as an instrument would.

Large files grow by appends; metadata is written whole; rendered files (hash and transfer lists)
are computed from what is on disk at their moment. A progress line goes to a terminal, nothing
anywhere else.
"""

from __future__ import annotations

import functools
import hashlib
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ngs_lake.simulator.plan import WriteStep


@dataclass
class WriteStats:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


BLOCK_BYTES = 1 << 22


@functools.lru_cache(maxsize=4)
def _random_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(BLOCK_BYTES)


def payload_parts(seed: int, step: WriteStep) -> list[bytes | memoryview]:
    """The same bytes for the same seed, path and write, whatever else the run does.

    A window into one seeded 4 MiB random block, starting where the write's own hash points and
    led by that hash, so every file differs without generating fresh randomness per byte. Parts
    are views, written without being copied into one buffer first.
    """
    digest = hashlib.blake2b(
        f"{step.path}:{step.kind}:{step.at:.6f}".encode(), digest_size=16, key=seed.to_bytes(8)
    ).digest()
    if step.size <= len(digest):
        return [digest[: step.size]]
    block = memoryview(_random_block(seed))
    parts: list[bytes | memoryview] = [digest]
    position, remaining = int.from_bytes(digest[:4]) % BLOCK_BYTES, step.size - len(digest)
    while remaining:
        take = min(remaining, BLOCK_BYTES - position)
        parts.append(block[position : position + take])
        remaining -= take
        position = 0
    return parts


def payload(seed: int, step: WriteStep) -> bytes:
    return b"".join(payload_parts(seed, step))


def execute(
    steps: Iterable[WriteStep],
    share: Path,
    seed: int = 0,
    progress: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stopped: Callable[[], bool] = lambda: False,
) -> WriteStats:
    """Write every step under `share` at its time; returns what was written. `stopped`: asked
    before each step, so a lab being torn down stops writing (and re-creating folders)."""
    ordered = sorted(steps, key=lambda s: s.at)
    share = share.resolve()
    stats, seen = WriteStats(), set()
    started = clock()
    for index, step in enumerate(ordered, start=1):
        wait = started + step.at - clock()
        if wait > 0:
            sleep(wait)
        if stopped():
            break
        target = share / step.path
        if share not in target.resolve().parents:
            raise ValueError(f"simulated path {step.path!r} escapes the share folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        if step.render is not None:
            parts: list[bytes | memoryview] = [step.render(share)]
        elif step.content is not None:
            parts = [step.content]
        else:
            parts = payload_parts(seed, step)
        with target.open("ab" if step.kind == "append" else "wb") as handle:
            for part in parts:
                handle.write(part)
        stats.bytes += sum(len(p) for p in parts)
        if step.path not in seen:
            seen.add(step.path)
            stats.files += 1
        if progress is not None:
            _draw(progress, index, len(ordered), stats)
    stats.seconds = clock() - started
    if progress is not None:
        progress.write("\n")
    return stats


def terminal_progress() -> TextIO | None:
    """stderr when it is a terminal; quiet otherwise."""
    return sys.stderr if sys.stderr.isatty() else None


def _draw(out: TextIO, done: int, total: int, stats: WriteStats) -> None:
    width = 30
    filled = width * done // max(total, 1)
    out.write(
        f"\r[{'#' * filled}{' ' * (width - filled)}] {100 * done // max(total, 1):3d}% "
        f"{stats.files} files, {stats.bytes / 1e6:.1f} MB"
    )
    out.flush()
