"""Values the lake knows, checked where a command takes them: an unknown site, sequencer or run
key is refused with the known ones (or the closest, by difflib's ratio), never answered with an
empty listing; and counts printed with the right plural."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import click

from ngs_lake.config.units import plural

__all__ = ["closest", "not_found", "plural", "require_known"]

SHOWN = 12  # known values listed in full up to this many; beyond, the closest ones


def closest(value: str, known: Iterable[str], count: int = 3) -> list[str]:
    """The known values nearest to `value` (difflib's similarity ratio at least 0.75)."""
    return difflib.get_close_matches(value, list(known), n=count, cutoff=0.75)


def require_known(value: str, known: Iterable[str], what: str, param_hint: str) -> str:
    """`value` if it is one of `known`; else a usage error naming the known ones."""
    values = sorted(set(known))
    if value in values:
        return value
    near = closest(value, values)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    listed = ", ".join(values) if len(values) <= SHOWN else f"{len(values)} of them"
    raise click.BadParameter(
        f"unknown {what} {value!r}{hint} (known: {listed})", param_hint=param_hint
    )


def not_found(run_key: str, known: Iterable[str]) -> click.ClickException:
    """A run key the ledger does not hold, with the closest keys it does."""
    near = closest(run_key, known)
    if near:
        return click.ClickException(
            f"no run {run_key!r} in the ledger; did you mean:\n  " + "\n  ".join(near)
        )
    return click.ClickException(f"no run {run_key!r} in the ledger (see `ngs-lake runs list`)")
