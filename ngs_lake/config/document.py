"""The lake config document (`config/lake.yaml`): one place that says which sequencers exist.

Each list entry is validated on its own, so one broken entry never hides the problems of another,
and cross-references and capacity rules run over every entry that parsed, with each lake setting
they read taken on its own when the lake entry as a whole fails (a bad retention does not hide an
undersized cache). Every problem names its entry by id and its field, so a lab admin can fix the
whole document in one pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from ngs_lake.config.fixity_settings import FixitySettings
from ngs_lake.config.model import (
    LOCAL_TARGET,
    MAX_RULE_NAME,
    SECTIONS,
    SUPPORTED_VERSION,
    TARGET_ENV,
    AlertSettings,
    Consumer,
    Gateway,
    LakeConfig,
    LakeConfigError,
    LakeSettings,
    Sequencer,
    Site,
    StrictEntry,
    buffer_days,
    deployment_target,
)
from ngs_lake.config.names import LakeNames
from ngs_lake.config.units import format_size


def load_lake_config(path: str | Path, target: str | None = None) -> LakeConfig:
    """Read and validate a config document, raising `LakeConfigError` with every problem;
    `target` ('local' or 'aws') defaults to the environment's (`NGS_LAKE_TARGET`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LakeConfigError([f"cannot read {path}: {exc.strerror}"], str(path)) from None
    return parse_lake_text(data, str(path), target)


def parse_lake_text(data: bytes, source: str, target: str | None = None) -> LakeConfig:
    """Validate a document's bytes as read from `source` (a file, or the recorded copy)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise LakeConfigError(
            [f"{source} is not UTF-8 text: byte {byte:#04x} at offset {exc.start}"], source
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LakeConfigError([yaml_problem(Path(source), exc)], source) from None
    except RecursionError:
        raise LakeConfigError([f"{source} is nested too deeply to read"], source) from None
    return parse_lake_document(document, source=source, target=target)


def yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """A YAML error as one line naming the file, line and column (PyYAML names a string it was
    given `<unicode string>`)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context}, line {exc.context_mark.line + 1})" if exc.context_mark else ""
        return (
            f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: "
            f"{exc.problem}{context}"
        )
    if isinstance(exc, yaml.reader.ReaderError):
        return f"{path}, offset {exc.position}: not valid YAML: {exc.reason}"
    return f"{path} is not valid YAML: {exc}"


def parse_lake_document(
    document: object, source: str = "the lake config", target: str | None = None
) -> LakeConfig:
    """Validate a parsed document; see the module docstring for how problems are gathered."""
    if not isinstance(document, Mapping):
        raise LakeConfigError(
            [f"the document must be a mapping with the keys {', '.join(SECTIONS)}"], source
        )
    problems: list[str] = []
    for key in document:
        if key not in SECTIONS:
            problems.append(f"{key}: unknown field; expected one of: {', '.join(SECTIONS)}")
    for key in ("version", "lake", "sites", "gateways", "sequencers"):
        if key not in document:
            problems.append(f"{key}: required field is missing")
    if "version" in document and document["version"] != SUPPORTED_VERSION:
        problems.append(
            f"version: unsupported version {document['version']!r}; "
            f"this ngs_lake reads version {SUPPORTED_VERSION}"
        )

    lake = _parse_entry(LakeSettings, document.get("lake"), "lake", problems)
    sections = {
        name: _parse_section(model, document.get(name), name, problems)
        for name, model in (
            ("sites", Site),
            ("gateways", Gateway),
            ("sequencers", Sequencer),
            ("consumers", Consumer),
        )
    }
    alerts = _parse_entry(AlertSettings, document.get("alerts") or {}, "alerts", problems)
    fixity = _parse_entry(FixitySettings, document.get("fixity") or {}, "fixity", problems)
    rules = _LakeRules.of(lake, document.get("lake"))
    problems.extend(_cross_reference_problems(rules, **sections))
    problems.extend(_alert_problems(document.get("alerts")))
    problems.extend(_auto_apply_problems(lake, target or deployment_target()))
    if problems:
        raise LakeConfigError(problems, source)
    return LakeConfig(
        version=SUPPORTED_VERSION,
        lake=lake,
        sites=sections["sites"].parsed,
        gateways=sections["gateways"].parsed,
        sequencers=sections["sequencers"].parsed,
        consumers=sections["consumers"].parsed,
        alerts=alerts,
        fixity=fixity,
    )


def _auto_apply_problems(lake: LakeSettings | None, target: str) -> list[str]:
    """Applying a saved document without review is for the local stand-in only: on AWS a plan
    can create COMPLIANCE-locked buckets that no one can remove (README, Provisioning)."""
    if lake is None or not lake.auto_apply or target == LOCAL_TARGET:
        return []
    return [
        f"lake.auto_apply: true is refused on the {target} target ({TARGET_ENV}={target}): a "
        "change there is planned, reviewed, then applied with `ngs-lake provision --apply`; "
        "remove the key or set it to false"
    ]


def _alert_problems(raw: object) -> list[str]:
    """A subscriber named twice: SNS keeps one subscription per endpoint, so the second entry's
    filters would silently replace the first's. Read from the raw entries, so a duplicate shows
    beside another entry's own problem."""
    entries = raw.get("subscriptions") if isinstance(raw, Mapping) else None
    counts = Counter(
        (str(e.get("protocol")), str(e.get("endpoint")))
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping)
    )
    return [
        f"alerts.subscriptions[{endpoint}]: {n} entries subscribe {protocol} {endpoint!r}; "
        "merge them into one"
        for (protocol, endpoint), n in counts.items()
        if n > 1
    ]


@dataclass
class _Section:
    """One list of the document: the ids every entry declares, and the entries that parsed.

    Duplicate and reference checks use the declared ids, so an entry with a bad field still counts
    as existing; capacity checks use only entries that parsed.
    """

    declared: list[str]
    parsed: tuple[Any, ...]


def _parse_section(
    model: type[StrictEntry], raw: object, section: str, problems: list[str]
) -> _Section:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append(f"{section}: must be a list of entries")
        return _Section([], ())
    key = "name" if section == "consumers" else "id"
    declared, parsed = [], []
    for index, item in enumerate(raw):
        item_id = item.get(key) if isinstance(item, Mapping) else None
        label = f"{section}[{item_id}]" if isinstance(item_id, str) and item_id else None
        if label:
            declared.append(item_id)
        entry = _parse_entry(model, item, label or f"{section}[{index}]", problems)
        if entry is not None:
            parsed.append(entry)
    return _Section(declared, tuple(parsed))


def _parse_entry(model: type[StrictEntry], item: object, label: str, problems: list[str]) -> Any:
    if not isinstance(item, Mapping):
        problems.append(f"{label}: must be a mapping of fields")
        return None
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        errors = exc.errors()
        # pydantic counts a list's length after dropping its invalid items; those are reported.
        failed_lists = {e["loc"][:-1] for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
        problems.extend(
            _describe(error, label, model)
            for error in errors
            if not (error["type"] == "too_short" and error["loc"] in failed_lists)
        )
        return None


# pydantic's range error types: the bound's key in the error's context, and its words.
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


def _describe(error: Any, label: str, model: type[StrictEntry]) -> str:
    """One pydantic error as `<entry>.<field>: <what is wrong>`, in words a config author reads."""
    loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    where = f"{label}{loc}"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent: Any = model
        for part in error["loc"][:-1]:
            if isinstance(part, str):
                fields = getattr(parent, "model_fields", {})
                parent = _model_in(fields[part].annotation) if part in fields else None
        allowed = ", ".join(getattr(parent, "model_fields", {}))
        return f"{where}: unknown field; expected one of: {allowed}"
    if kind == "missing":
        return f"{where}: required field is missing"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        value = error["input"]
        try:
            negative = float(value) < 0
        except (TypeError, ValueError):
            negative = False
        what = "negative" if negative else "too large" if kind.startswith("less") else "too small"
        return f"{where}: {value!r} is {what}; it must be {words} {error['ctx'][key]}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds, as in `X | None` or `tuple[X, ...]`, or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class _LakeRules:
    """The lake settings the cross-entry rules read; None where a setting is itself invalid."""

    prefix: str | None
    event_queues: str | None
    max_sequencers_per_gateway: int | None
    cache_buffer_days: float | None

    @classmethod
    def of(cls, lake: LakeSettings | None, raw: object) -> _LakeRules | None:
        names = tuple(cls.__dataclass_fields__)
        if lake is not None:
            return cls(*(getattr(lake, name) for name in names))
        if not isinstance(raw, Mapping):
            return None
        return cls(*(_setting_alone(name, raw) for name in names))


def _setting_alone(name: str, raw: Mapping[Any, Any]) -> Any:
    """One lake setting validated on its own: its value, its default when absent, None when it is
    invalid (its own problem is already reported)."""
    field = LakeSettings.model_fields[name]
    if name not in raw:
        return None if field.is_required() else field.get_default(call_default_factory=True)
    annotation = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    try:
        return TypeAdapter(annotation).validate_python(raw[name])
    except ValidationError:
        return None


def _cross_reference_problems(
    rules: _LakeRules | None,
    sites: _Section,
    gateways: _Section,
    sequencers: _Section,
    consumers: _Section,
) -> list[str]:
    problems = _duplicate_problems(sites, gateways, sequencers, consumers)
    problems += _reference_problems(sites, gateways, sequencers, consumers)
    if rules is not None:
        problems += _name_problems(rules, sites, sequencers)
        problems += _capacity_problems(rules, gateways, sequencers)
    return problems


def _duplicate_problems(
    sites: _Section, gateways: _Section, sequencers: _Section, consumers: _Section
) -> list[str]:
    problems: list[str] = []
    for section, entries, key in (
        ("sites", sites, "id"),
        ("gateways", gateways, "id"),
        ("sequencers", sequencers, "id"),
        ("consumers", consumers, "name"),
    ):
        counts = Counter(entries.declared)
        problems.extend(
            f"{section}[{value}].{key}: duplicate {key}; {n} entries use {value!r}"
            for value, n in counts.items()
            if n > 1
        )
    # Sequencer ids become bucket names, which are lower-case, so case-only twins would collide.
    by_lower: dict[str, list[str]] = {}
    for sequencer_id in dict.fromkeys(sequencers.declared):
        by_lower.setdefault(sequencer_id.lower(), []).append(sequencer_id)
    problems.extend(
        f"sequencers[{', '.join(twins)}].id: ids differ only in case; bucket names are "
        "lower-case, so they would share a bucket"
        for twins in by_lower.values()
        if len(twins) > 1
    )
    return problems


def _reference_problems(
    sites: _Section, gateways: _Section, sequencers: _Section, consumers: _Section
) -> list[str]:
    problems: list[str] = []
    site_ids, gateway_ids = set(sites.declared), set(gateways.declared)
    for g in gateways.parsed:
        if g.site not in site_ids:
            problems.append(
                f"gateways[{g.id}].site: unknown site {g.site!r}; known sites: "
                f"{', '.join(sorted(site_ids))}"
            )
    for s in sequencers.parsed:
        if s.gateway not in gateway_ids:
            problems.append(
                f"sequencers[{s.id}].gateway: unknown gateway {s.gateway!r}; known gateways: "
                f"{', '.join(sorted(gateway_ids))}"
            )
    for c in consumers.parsed:
        problems.extend(
            f"consumers[{c.name}].sites: unknown site {site!r}; known sites: "
            f"{', '.join(sorted(site_ids))}"
            for site in c.sites
            if site not in site_ids
        )
    return problems


def _name_problems(rules: _LakeRules, sites: _Section, sequencers: _Section) -> list[str]:
    """Names built from the lake's prefix that would break AWS's length limits."""
    problems: list[str] = []
    if rules.prefix is None:
        return problems
    for s in sequencers.parsed:
        bucket = f"{rules.prefix}-{s.id.lower()}"
        if len(bucket) > 63:
            problems.append(
                f"sequencers[{s.id}].id: bucket name {bucket!r} would exceed 63 characters"
            )
    if rules.event_queues == "per-site":
        for site_id in dict.fromkeys(sites.declared):
            rule = LakeNames(rules.prefix).site_events(site_id).rule
            if len(rule) > MAX_RULE_NAME:  # its queues' names, at most 68, fit SQS's 80
                problems.append(
                    f"sites[{site_id}].id: with lake.event_queues per-site, its rule name "
                    f"{rule!r} would exceed EventBridge's {MAX_RULE_NAME} characters; "
                    "use a shorter site id or lake prefix"
                )
    return problems


def _capacity_problems(rules: _LakeRules, gateways: _Section, sequencers: _Section) -> list[str]:
    """Each gateway's sequencer count and cache buffer against the lake's limits."""
    problems: list[str] = []
    maximum, target = rules.max_sequencers_per_gateway, rules.cache_buffer_days
    for g in gateways.parsed:
        attached = [s for s in sequencers.parsed if s.gateway == g.id]
        if maximum is not None and len(attached) > maximum:
            problems.append(
                f"gateways[{g.id}]: {len(attached)} sequencers attached, more than the maximum of "
                f"{maximum} (lake.max_sequencers_per_gateway)"
            )
        days = buffer_days(g.cache, (s.data_rate for s in attached))
        if target is not None and days < target:
            per_day = sum(s.data_rate for s in attached) * 24
            problems.append(
                f"gateways[{g.id}].cache: {format_size(g.cache, iec=True)} holds {days:.1f} days "
                f"of its sequencers' full-time output ({format_size(per_day)}/day), below the "
                f"{target:g}-day target (lake.cache_buffer_days); enlarge the "
                "cache or move a sequencer to another gateway"
            )
    return problems
