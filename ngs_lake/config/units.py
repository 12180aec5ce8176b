"""Byte sizes and data rates as people write them in the config document ("16 TiB", "25 GB/h").

SI prefixes are powers of 1000 and IEC prefixes powers of 1024, as each standard says; a lower-case
``b`` would mean bits, which no storage figure here is, so it is refused rather than guessed. A
figure that reads well but cannot be (negative, or too large to hold) is refused for that reason.
"""

from __future__ import annotations

import math
import re

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 10**3,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "PiB": 2**50,
}

SECONDS_PER: dict[str, int] = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}

_SIZE = re.compile(r"^\s*(?P<sign>-?)(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]+)\s*$")
_RATE = re.compile(r"^\s*(?P<size>[^/]+)/\s*(?P<per>[A-Za-z]+)\s*$")


class UnitError(ValueError):
    """A size or rate that cannot be read; the message says what would be accepted."""


class NegativeFigure(UnitError):
    """A size or rate that was read, and is below zero."""


class FigureTooLarge(UnitError):
    """A figure that was read, and is beyond what a float holds (it would be infinite)."""


def parse_size(text: str) -> int:
    """Return the number of bytes in ``text`` such as ``"16 TiB"`` or ``"20 TB"``."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match or match["unit"] not in SIZE_UNITS:
        raise UnitError(
            f'cannot read {text!r} as a size; write a number and a unit such as "16 TiB" or "20 TB"'
        )
    if match["sign"]:
        raise NegativeFigure(f'{text!r} is negative; a size is 0 or more, such as "16 TiB"')
    n_bytes = float(match["number"]) * SIZE_UNITS[match["unit"]]
    if not math.isfinite(n_bytes):
        raise FigureTooLarge(f"{text!r} is too large a size to hold")
    return round(n_bytes)


def parse_rate(text: str) -> float:
    """Return bytes per hour for ``text`` such as ``"25 GB/h"`` or ``"1.5 TiB/day"``."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match and match["per"] in SECONDS_PER:
        try:
            size = parse_size(match["size"])
        except NegativeFigure:
            raise NegativeFigure(
                f'{text!r} is negative; a data rate is 0 or more, such as "25 GB/h"'
            ) from None
        except FigureTooLarge:
            raise FigureTooLarge(f"{text!r} is too large a data rate to hold") from None
        except UnitError:
            pass
        else:
            return size * 3600 / SECONDS_PER[match["per"]]
    raise UnitError(
        f'cannot read {text!r} as a data rate; write a size per hour or day such as "25 GB/h" '
        'or "1.5 TiB/day"'
    )


def format_size(n_bytes: float, iec: bool = False) -> str:
    """A human figure: SI units by default (``17.6 TB``), IEC for caches sized so (``16.0 TiB``)."""
    units = ("PiB", "TiB", "GiB", "MiB", "KiB") if iec else ("PB", "TB", "GB", "MB", "kB")
    for unit in units:
        if n_bytes >= SIZE_UNITS[unit]:
            return f"{n_bytes / SIZE_UNITS[unit]:.1f} {unit}"
    return f"{n_bytes:.0f} B"


_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|min|h|d)?\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``"60s"``, ``"5m"``, ``"1.5h"`` or a bare number of seconds."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise UnitError(f'cannot read {text!r} as a duration; write e.g. "60s", "5m" or "2h"')
    seconds = float(match["number"]) * _DURATION_SECONDS[match["unit"] or "s"]
    if not math.isfinite(seconds):
        raise FigureTooLarge(f"{text!r} is too long a duration to hold")
    return seconds


def plural(count: int, word: str, many: str | None = None) -> str:
    """A count with its noun: `1 message`, `2 messages`, `0 runs`."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
