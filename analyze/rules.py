"""The rule catalogue (``rules.yaml``) and the one function that judges a value by a rule.

Thresholds are data: ``--thresholds FILE`` overrides any rule's numbers by id, so a site with
different hardware guidance changes YAML, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from etcd_perf.gather.errors import BundleError
from etcd_perf.gather.yamlio import safe_yaml

SEVERITIES = ("info", "warning", "critical")
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
OVERRIDABLE = ("info", "warning", "critical", "op", "enabled")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    signal: str
    scope: str
    unit: str
    subsystem: str
    message: str
    recommendation: str
    op: str = ">"
    info: float | None = None
    warning: float | None = None
    critical: float | None = None
    kpi: bool = False
    enabled: bool = True
    evidence: tuple[str, ...] = field(default_factory=tuple)
    evidence_sort: str | None = None
    evidence_scope: str = "window"  # or "all": evidence from the whole logs (a signal counted over them)
    guard: dict | None = None
    # conditions that raise a firing finding to critical, each {signal, op, value, why}
    escalate: tuple[dict, ...] = field(default_factory=tuple)

    def applies(self, signals: dict) -> bool:
        """Whether the rule is judged at all here (its guard holds); no guard: always."""
        if not self.guard:
            return True
        value = signals.get(self.guard["signal"])
        if value is None:
            return False
        return _holds(value, self.guard["op"], self.guard["value"])

    def escalation(self, signals: dict) -> dict | None:
        """The first escalate condition that holds on these signals (the finding is then critical)."""
        for e in self.escalate:
            value = signals.get(e["signal"])
            if value is not None and _holds(value, e["op"], e["value"]):
                return e
        return None

    def judge(self, value: float | None) -> tuple[str | None, float | None]:
        """(severity, threshold breached) for a value; (None, None) when it passes or is unknown."""
        if value is None:
            return None, None
        for severity in ("critical", "warning", "info"):
            threshold = getattr(self, severity)
            if threshold is None:
                continue
            if (value >= threshold) if self.op == ">=" else (value > threshold):
                return severity, threshold
        return None, None

    @property
    def reference_threshold(self) -> float | None:
        """The threshold a KPI row shows: the first one that is more than informational."""
        for t in (self.warning, self.critical, self.info):
            if t is not None:
                return t
        return None


def _rule(entry: dict, where: str) -> Rule:
    required = ("id", "name", "signal", "scope", "unit", "subsystem", "message", "recommendation")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing {missing}")
    if entry["scope"] not in ("member", "cluster"):
        raise ValueError(f"{where}: scope must be member or cluster")
    if entry.get("op", ">") not in (">", ">="):
        raise ValueError(f"{where}: op must be > or >=")
    if entry.get("evidence_scope", "window") not in ("window", "all"):
        raise ValueError(f"{where}: evidence_scope must be window or all")
    return Rule(
        id=str(entry["id"]),
        name=str(entry["name"]),
        signal=str(entry["signal"]),
        scope=str(entry["scope"]),
        unit=str(entry["unit"]),
        subsystem=str(entry["subsystem"]),
        message=" ".join(str(entry["message"]).split()),
        recommendation=" ".join(str(entry["recommendation"]).split()),
        op=str(entry.get("op", ">")),
        info=entry.get("info"),
        warning=entry.get("warning"),
        critical=entry.get("critical"),
        kpi=bool(entry.get("kpi", False)),
        enabled=bool(entry.get("enabled", True)),
        evidence=tuple(entry.get("evidence") or ()),
        evidence_sort=entry.get("evidence_sort"),
        evidence_scope=str(entry.get("evidence_scope", "window")),
        guard=_guard(entry.get("guard"), where),
        escalate=tuple(_escalation(e, where) for e in entry.get("escalate") or ()),
    )


def _holds(value: float, op: str, limit: float) -> bool:
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]


def _escalation(entry: object, where: str) -> dict:
    if not isinstance(entry, dict) or not {"signal", "op", "value", "why"} <= entry.keys():
        raise ValueError(f"{where}: each escalate entry needs signal, op, value and why")
    if entry["op"] not in (">", ">=", "<", "<="):
        raise ValueError(f"{where}: escalate op must be one of > >= < <=")
    return {**entry, "why": " ".join(str(entry["why"]).split())}


def _guard(guard: object, where: str) -> dict | None:
    if guard is None:
        return None
    if not isinstance(guard, dict) or not {"signal", "op", "value"} <= guard.keys():
        raise ValueError(f"{where}: guard needs signal, op and value")
    if guard["op"] not in (">", ">=", "<", "<="):
        raise ValueError(f"{where}: guard op must be one of > >= < <=")
    return dict(guard)


@cache
def rules_section(name: str) -> dict:
    """One top-level section of the shipped rules.yaml (rules, diagnosis, platform, compare)."""
    text = resources.files("etcd_perf.analyze").joinpath("rules.yaml").read_text(encoding="utf-8")
    return safe_yaml(text)[name]


@cache
def default_rules() -> tuple[Rule, ...]:
    return tuple(_rule(e, f"rules.yaml entry {i}") for i, e in enumerate(rules_section("rules")))


def _number(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BundleError(f"{where}: expected a number or null, got {value!r}")
    return value


def apply_overrides(rules: tuple[Rule, ...], path: Path) -> tuple[Rule, ...]:
    """Rules with thresholds from a YAML file: ``{rule_id: {warning: N, critical: N, enabled: bool}}``.

    The file may also wrap that mapping in a top-level ``thresholds:`` key.
    """
    try:
        data = safe_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"--thresholds {path}: no such file") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(f"--thresholds {path}: cannot read it as YAML ({str(exc).splitlines()[0]})") from exc
    if isinstance(data, dict) and isinstance(data.get("thresholds"), dict):
        data = data["thresholds"]
    if data is None:
        return rules
    if not isinstance(data, dict):
        raise BundleError(f"--thresholds {path}: expected a mapping of rule id to thresholds")
    by_id = {r.id: r for r in rules}
    for rule_id, values in data.items():
        if rule_id not in by_id:
            raise BundleError(f"--thresholds {path}: unknown rule id {rule_id!r} (known: {', '.join(sorted(by_id))})")
        if not isinstance(values, dict):
            raise BundleError(f"--thresholds {path}: {rule_id} must map to thresholds, e.g. {{warning: 20}}")
        changes: dict[str, object] = {}
        for key, value in values.items():
            if key not in OVERRIDABLE:
                raise BundleError(
                    f"--thresholds {path}: {rule_id}: {key!r} cannot be overridden ({', '.join(OVERRIDABLE)})"
                )
            if key == "enabled":
                if not isinstance(value, bool):  # "false" in quotes is a string, and bool("false") is True
                    raise BundleError(f"--thresholds {path}: {rule_id}.enabled must be true or false, got {value!r}")
                changes[key] = value
            elif key == "op":
                if value not in (">", ">="):
                    raise BundleError(f"--thresholds {path}: {rule_id}.op must be > or >=")
                changes[key] = value
            else:
                changes[key] = _number(value, f"--thresholds {path}: {rule_id}.{key}")
        by_id[rule_id] = replace(by_id[rule_id], **changes)
    return tuple(by_id[r.id] for r in rules)
