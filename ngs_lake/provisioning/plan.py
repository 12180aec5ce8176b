"""A provisioning plan: one action per resource, with its reason, computed before anything changes.

Plans are built from reads only, so `--plan` is always safe; applying runs exactly the changes the
plan shows. Stages run in order (the key before buckets, buckets before shares); the groups inside a
stage are independent, so they are read and applied concurrently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PARALLELISM = 8


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NOOP = "no-op"
    RETAINED = "retained"
    MOVE = "move"
    REMOVE = "remove"


MUTATING = frozenset({Action.CREATE, Action.UPDATE, Action.MOVE, Action.REMOVE})


class ProvisioningRefused(Exception):
    """The plan asks for something the lake must never do (weaken WORM) or cannot do yet."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("provisioning refused:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass
class Change:
    """One resource's action. `run` performs it; it is None for no-op and retained."""

    resource: str
    name: str
    action: Action
    reason: str
    notes: tuple[str, ...] = ()
    run: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resource": self.resource,
            "name": self.name,
            "action": self.action.value,
            "reason": self.reason,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class Stage:
    name: str
    groups: list[list[Change]]

    @property
    def changes(self) -> list[Change]:
        return [c for group in self.groups for c in group]


@dataclass
class Plan:
    stages: list[Stage] = field(default_factory=list)
    iam_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity policies
    all_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # and resource ones

    @property
    def changes(self) -> list[Change]:
        return [c for stage in self.stages for c in stage.changes]

    @property
    def mutations(self) -> list[Change]:
        return [c for c in self.changes if c.action in MUTATING]

    def counts(self) -> dict[str, int]:
        counts = Counter(c.action.value for c in self.changes)
        return {a.value: counts.get(a.value, 0) for a in Action}

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.counts(),
            "changes": [c.as_dict() for c in self.changes],
            "iam_policies": self.iam_policies,
        }

    def render(self, show_noop: bool = False, show_policies: bool = False) -> str:
        width = max((len(a.value) for a in Action), default=8)
        lines = []
        for stage in self.stages:
            shown = [c for c in stage.changes if show_noop or c.action != Action.NOOP]
            if not shown:
                continue
            lines.append(f"{stage.name}:")
            for c in shown:
                lines.append(f"  {c.action.value:<{width}}  {c.resource} {c.name}: {c.reason}")
                lines.extend(f"  {'':<{width}}    note: {n}" for n in c.notes)
        summary = ", ".join(f"{n} {a}" for a, n in self.counts().items())
        lines.append(f"plan: {summary}")
        if show_policies and self.iam_policies:
            lines.append("IAM policy documents (attach to the named principals):")
            for principal, document in self.iam_policies.items():
                lines.append(f"  {principal}:")
                lines.extend(f"    {line}" for line in json.dumps(document, indent=2).splitlines())
        return "\n".join(lines)


def apply_plan(plan: Plan, on_change: Callable[[Change], None] | None = None) -> list[Change]:
    """Run every mutating change, stage by stage; return what was applied."""
    applied: list[Change] = []

    def run_group(group: list[Change]) -> list[Change]:
        done = []
        for change in group:
            if change.action in MUTATING and change.run is not None:
                change.run()
                done.append(change)
                if on_change:
                    on_change(change)
        return done

    for stage in plan.stages:
        for done in run_concurrently(run_group, stage.groups):
            applied.extend(done)
    return applied


def run_concurrently(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """Map in a small thread pool (boto3 clients are thread-safe); results keep input order."""
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLELISM, len(items))) as pool:
        return list(pool.map(fn, items))


def diff_paths(current: Any, desired: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ, as short paths for a plan's reason."""
    if isinstance(current, dict) and isinstance(desired, dict):
        out: list[str] = []
        for key in sorted(set(current) | set(desired), key=str):
            out.extend(diff_paths(current.get(key), desired.get(key), f"{path}.{key}"))
        return out
    if current != desired:
        return [path.lstrip(".") or "value"]
    return []


def setting_change(
    resource: str,
    name: str,
    current: Any,
    desired: Any,
    put: Callable[[], None],
    notes: tuple[str, ...] = (),
    missing_reason: str = "not set",
) -> Change:
    """Compare a read-back setting with the desired one and say what to do about it."""
    if current == desired:
        return Change(resource, name, Action.NOOP, "up to date", notes)
    if current is None:
        return Change(resource, name, Action.CREATE, missing_reason, notes, put)
    if desired is not None:
        paths = diff_paths(current, desired)
        return Change(
            resource, name, Action.UPDATE, "differs at " + ", ".join(paths[:4]), notes, put
        )
    return Change(
        resource, name, Action.UPDATE, "set, but the lake manages it as absent", notes, put
    )
