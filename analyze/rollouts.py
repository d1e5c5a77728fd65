"""The platform's own work: static-pod rollouts and node reboots, and the member outages they cause.

Every OpenShift cluster rolls etcd out on install, upgrade, certificate rotation and configuration
change: cluster-etcd-operator writes revision N, an ``installer-N-<node>`` pod installs it, the kubelet
stops the old etcd pod and starts a new one, one node at a time. If the stopped member led the cluster,
an election follows within a second; its peers log lost streams and failed probes about it until the
new pod is up; the new pod's log is a new file and the old one's is not in the bundle. None of that is
etcd trouble. This module turns the bundle's installer pods and Kubernetes events into ``Rollout``
records and, with node reboots, into ``Outage`` windows per member, which the measures, the election
causes and the diagnosis use to tell planned work from faults. The event wordings and the time windows
are data (``platform:`` in rules.yaml).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import polars as pl

from etcd_perf.analyze.rules import rules_section
from etcd_perf.gather.bundle import Bundle

ROLES = ("trigger", "target", "installed", "stopped", "ready", "unhealthy", "down", "booted")
EVIDENCE_ITEMS = 8


@dataclass(frozen=True)
class EventPattern:
    reason: str
    role: str
    match: str | None = None  # a regex on the message
    object: str | None = None  # a regex on the involved object's name


@dataclass(frozen=True)
class PlatformRules:
    rollout_events: tuple[EventPattern, ...]
    node_events: tuple[EventPattern, ...]
    notable_events: tuple[str, ...]
    election_after_stop: timedelta
    election_before_stop: timedelta
    restart_after_stop: timedelta
    reboot_down: timedelta
    warnings_before_stop: timedelta
    warnings_after_back: timedelta


def _pattern(entry: dict, where: str) -> EventPattern:
    if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str) or entry.get("role") not in ROLES:
        raise ValueError(f"{where}: needs a reason and a role ({', '.join(ROLES)})")
    for key in ("match", "object"):
        if entry.get(key) is not None:
            re.compile(entry[key])
    return EventPattern(entry["reason"], entry["role"], entry.get("match"), entry.get("object"))


def parse_platform_rules(data: dict) -> PlatformRules:
    seconds = {k: timedelta(seconds=float(v)) for k, v in data.items() if k.endswith("_s")}
    return PlatformRules(
        rollout_events=tuple(
            _pattern(e, f"platform.rollout_events[{i}]") for i, e in enumerate(data["rollout_events"])
        ),
        node_events=tuple(_pattern(e, f"platform.node_events[{i}]") for i, e in enumerate(data["node_events"])),
        notable_events=tuple(str(r) for r in data.get("notable_events") or ()),
        election_after_stop=seconds["election_after_stop_s"],
        election_before_stop=seconds["election_before_stop_s"],
        restart_after_stop=seconds["restart_after_stop_s"],
        reboot_down=seconds["reboot_down_s"],
        warnings_before_stop=seconds["peer_warnings_before_stop_s"],
        warnings_after_back=seconds["peer_warnings_after_back_s"],
    )


@cache
def platform_rules() -> PlatformRules:
    return parse_platform_rules(rules_section("platform"))


@dataclass
class Rollout:
    """Static-pod revision ``revision`` rolled out on ``node`` (the member running there)."""

    revision: int
    node: str
    member: str | None
    started: datetime | None = None  # the operator began this node's rollout (target set, installer started)
    stopped: datetime | None = None  # the old etcd pod was stopped (the installer finished)
    finished: datetime | None = None  # the member was back: its new etcd started (else the new pod was ready)
    trigger: str | None = None  # why the revision was made ("configmap/etcd-pod has changed")
    installer: str | None = None
    installer_exit_code: int | None = None
    evidence: list[dict] = field(default_factory=list)

    def to_json(self, iso) -> dict:
        return {
            "revision": self.revision,
            "node": self.node,
            "member": self.member,
            "started": iso(self.started),
            "stopped": iso(self.stopped),
            "finished": iso(self.finished),
            "trigger": self.trigger,
            "installer": self.installer,
            "installer_exit_code": self.installer_exit_code,
            "evidence": [{**e, "ts": iso(e["ts"])} for e in self.evidence],
        }


@dataclass
class Outage:
    """A member stopped by the platform, from ``stopped`` until ``back`` (None: not back in the bundle)."""

    member: str
    cause: str  # rollout | reboot
    stopped: datetime
    back: datetime | None
    summary: str  # "the revision 3 rollout (installer-3-<node> finished 09:27:16 UTC)"
    revision: int | None = None
    installer: str | None = None
    evidence: list[dict] = field(default_factory=list)

    def covers(self, at: datetime, before: timedelta, after: timedelta) -> bool:
        """Whether ``at`` falls from ``before`` ahead of the stop to ``after`` past the return (or ever after)."""
        if at < self.stopped - before:
            return False
        return self.back is None or at <= self.back + after


def _hms(ts: datetime | None) -> str:
    return ts.strftime("%H:%M:%S UTC") if ts else "?"


def _classified(events: pl.DataFrame, patterns: tuple[EventPattern, ...]) -> list[dict]:
    """Each event one of ``patterns`` claims (the first that does), with its role and the named groups of
    its regexes (revision, node, trigger, members). The frame holds the etcd namespaces' events: hundreds."""
    out: list[dict] = []
    if events.height == 0:
        return out
    events = events.filter(pl.col("ts").is_not_null())  # an event without a time cannot be placed
    for idx, p in enumerate(patterns):
        rows = events.filter(pl.col("reason") == p.reason)
        for row in rows.iter_rows(named=True):
            groups: dict[str, str] = {}
            ok = True
            for regex, text in ((p.match, row["message"]), (p.object, row["object_name"])):
                if regex is None:
                    continue
                m = re.search(regex, text or "")
                if m is None:
                    ok = False
                    break
                groups.update({k: v for k, v in m.groupdict().items() if v is not None})
            if ok:
                out.append({**row, "role": p.role, "_pattern": idx, **groups})
    # one role per event: the first pattern that claims it
    seen: set[tuple] = set()
    unique = []
    for r in sorted(out, key=lambda r: (r["_pattern"], r["file"], r["line"] or 0)):
        key = (r["file"], r["line"], r["reason"], r["ts"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return sorted(
        unique, key=lambda r: (r["ts"] is None, r["ts"].timestamp() if r["ts"] else 0, r["file"], r["line"] or 0)
    )


def _event_evidence(r: dict) -> dict:
    who = f"{r['object_kind'] or 'object'} {r['object_name']}" if r.get("object_name") else ""
    text = f"{r['reason']}: {r['message']}" + (f" ({who})" if who else "")
    return {"file": r["file"], "line": r["line"], "ts": r["ts"], "excerpt": text[:400]}


def _member_of_node(bundle: Bundle, node: str) -> str | None:
    if node in bundle.member_names:
        return node
    for pod, spec in sorted(bundle.pods.items()):
        if spec.node == node and pod.startswith("etcd-") and pod[5:] in bundle.member_names:
            return pod[5:]
    return None


def _starts(bundle: Bundle) -> dict[str, list[datetime]]:
    """member -> the times its etcd started (server_start events), in order."""
    rows = bundle.of("server_start", columns=["ts"]).filter(pl.col("ts").is_not_null())
    out: dict[str, list[datetime]] = {}
    for member, ts in rows.select(pl.col("member").cast(pl.String), "ts").sort("ts").iter_rows():
        out.setdefault(member, []).append(ts)
    return out


def _back_after(
    starts: list[datetime], stopped: datetime | None, within: timedelta, fallback: datetime | None
) -> datetime | None:
    if stopped is None:
        return fallback
    later = [t for t in starts if stopped <= t <= stopped + within]
    return later[0] if later else fallback


def build_rollouts(bundle: Bundle, rules: PlatformRules | None = None) -> list[Rollout]:
    """One record per (revision, node) the bundle shows being installed: from the installer pods and the
    operator's and kubelet's events. Sorted by when each node's etcd was stopped."""
    rules = rules or platform_rules()
    plat = bundle.platform
    events = _classified(plat.events, rules.rollout_events)
    by_key: dict[tuple[int, str], Rollout] = {}

    def rollout(revision: int, node: str) -> Rollout:
        key = (revision, node)
        if key not in by_key:
            by_key[key] = Rollout(revision, node, _member_of_node(bundle, node))
        return by_key[key]

    for pod in plat.installers:
        r = rollout(pod.revision, pod.node)
        r.installer, r.installer_exit_code = pod.name, pod.exit_code
        r.started, r.stopped = pod.started, pod.finished
        summary = {
            "pod": pod.name,
            "node": pod.node,
            "revision": pod.revision,
            "startedAt": pod.started.isoformat() if pod.started else None,
            "finishedAt": pod.finished.isoformat() if pod.finished else None,
            "exitCode": pod.exit_code,
        }
        r.evidence.append({"file": pod.file, "line": pod.line, "ts": pod.finished, "excerpt": json.dumps(summary)})
    for e in events:
        if e["role"] not in ("target", "installed", "ready") or "revision" not in e or "node" not in e:
            continue
        r = rollout(int(e["revision"]), e["node"])
        if e["role"] == "target":
            r.started = min((t for t in (r.started, e["ts"]) if t), default=None)
        elif e["role"] == "installed":
            r.installer = r.installer or e.get("object_name")
            r.stopped = r.stopped or e["ts"]
        r.evidence.append(_event_evidence(e))
    triggers = [e for e in events if e["role"] == "trigger" and "revision" in e]
    starts = _starts(bundle)
    for r in by_key.values():
        # why the revision was made: the last trigger of that revision before this node's rollout began
        mine = [e for e in triggers if int(e["revision"]) == r.revision and (r.started is None or e["ts"] <= r.started)]
        if mine:
            r.trigger = (mine[-1].get("trigger") or "").replace('\\"', '"') or None
            r.evidence.insert(0, _event_evidence(mine[-1]))
        if r.stopped is not None:  # the kubelet stopping the old pod, and the operator seeing it unhealthy
            for e in events:
                if e["ts"] is None or not (
                    r.stopped - timedelta(seconds=5) <= e["ts"] <= r.stopped + timedelta(seconds=90)
                ):
                    continue
                if (e["role"] == "stopped" and e.get("node") == r.node) or (
                    e["role"] == "unhealthy" and r.node in (e.get("members") or "")
                ):
                    r.evidence.append(_event_evidence(e))
        ready = next(
            (
                e["ts"]
                for e in events
                if e["role"] == "ready" and e.get("node") == r.node and int(e.get("revision", -1)) == r.revision
            ),
            None,
        )
        # back: its etcd's next start, before any later stop of that node (else when the new pod was ready)
        later = [
            x.stopped for x in by_key.values() if x.node == r.node and x.stopped and r.stopped and x.stopped > r.stopped
        ]
        limit = (
            min([rules.restart_after_stop, *[t - r.stopped for t in later]]) if r.stopped else rules.restart_after_stop
        )
        r.finished = _back_after(starts.get(r.member or "", []), r.stopped, limit, ready)
        r.evidence = _tidy(r.evidence)
    return sorted(by_key.values(), key=lambda r: (_sort_time(r), r.revision, r.node))


def _sort_time(r: Rollout) -> tuple:
    t = r.stopped or r.started
    return (t is None, t.timestamp() if t else 0.0)


def _tidy(evidence: list[dict]) -> list[dict]:
    """Each piece of evidence once, in time order, the first few."""
    seen: set[tuple] = set()
    out = []
    for e in sorted(
        evidence, key=lambda e: (e["ts"] is None, e["ts"].timestamp() if e["ts"] else 0, e["file"], e["line"] or 0)
    ):
        key = (e["file"], e["line"], e["excerpt"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out[:EVIDENCE_ITEMS]


def build_reboots(bundle: Bundle, rules: PlatformRules | None = None) -> list[Outage]:
    """Members' nodes that went down and came back (machine-config updates reboot every master in an
    upgrade): a "down" node event, then a "booted" one within ``reboot_down``."""
    rules = rules or platform_rules()
    events = _classified(bundle.platform.events.filter(pl.col("object_kind") == "Node"), rules.node_events)
    out: list[Outage] = []
    starts = _starts(bundle)
    for booted in (e for e in events if e["role"] == "booted" and e["ts"] is not None):
        node = booted["object_name"] or ""
        member = _member_of_node(bundle, node)
        if member is None:
            continue
        downs = [
            e
            for e in events
            if e["role"] == "down"
            and e["object_name"] == node
            and e["ts"] is not None
            and booted["ts"] - rules.reboot_down <= e["ts"] <= booted["ts"]
        ]
        if not downs:
            continue
        stopped = downs[0]["ts"]
        if any(o.member == member and o.stopped == stopped for o in out):
            continue
        back = _back_after(starts.get(member, []), stopped, rules.restart_after_stop, booted["ts"])
        out.append(
            Outage(
                member,
                "reboot",
                stopped,
                back,
                f"a reboot of its node {node} (down {_hms(stopped)}, back {_hms(booted['ts'])})",
                evidence=_tidy([_event_evidence(e) for e in [*downs, booted]]),
            )
        )
    return out


def build_outages(bundle: Bundle, rollouts: list[Rollout], rules: PlatformRules | None = None) -> list[Outage]:
    """Every window in which the platform had a member stopped: rollouts (from the old pod's stop until the
    new one's etcd started) and node reboots, in time order."""
    rules = rules or platform_rules()
    out = [
        Outage(
            r.member,
            "rollout",
            r.stopped,
            r.finished,
            f"the revision {r.revision} rollout ({r.installer or 'installer'} finished {_hms(r.stopped)}"
            + (f", triggered by {r.trigger}" if r.trigger else "")
            + ")",
            revision=r.revision,
            installer=r.installer,
            evidence=r.evidence,
        )
        for r in rollouts
        if r.member is not None and r.stopped is not None
    ]
    out += build_reboots(bundle, rules)
    return sorted(out, key=lambda o: (o.stopped, o.member, o.cause))


def outage_at_election(
    outages: list[Outage], member: str | None, at: datetime | None, rules: PlatformRules | None = None
) -> Outage | None:
    """The platform stop of ``member`` that an election at ``at`` followed, if any."""
    rules = rules or platform_rules()
    if member is None or at is None:
        return None
    near = [
        o
        for o in outages
        if o.member == member and at - rules.election_after_stop <= o.stopped <= at + rules.election_before_stop
    ]
    return min(near, key=lambda o: abs((o.stopped - at).total_seconds())) if near else None


def outage_of_restart(
    outages: list[Outage], member: str, at: datetime, rules: PlatformRules | None = None
) -> Outage | None:
    """The platform stop that a start of ``member``'s etcd at ``at`` came back from, if any."""
    rules = rules or platform_rules()
    slack = timedelta(seconds=5)

    def came_back(o: Outage) -> bool:
        # the start that ended the outage (its first after the stop): a later one is another restart
        last = o.back + slack if o.back is not None else o.stopped + rules.restart_after_stop
        return o.stopped - slack <= at <= last

    near = [o for o in outages if o.member == member and came_back(o)]
    return max(near, key=lambda o: o.stopped) if near else None  # the latest stop before it


NOTABLE_MAX = 50


def notable_events(bundle: Bundle, rules: PlatformRules | None = None) -> list[dict]:
    """The operator's membership and health events (a member added or removed, seen unhealthy), in time
    order, each as evidence: what changed in the cluster besides etcd's own logs. At most NOTABLE_MAX."""
    rules = rules or platform_rules()
    rows = bundle.platform.events.filter(
        pl.col("reason").is_in(list(rules.notable_events)) & pl.col("ts").is_not_null()
    )
    out = []
    for r in rows.sort("ts", "file", "line").head(NOTABLE_MAX).iter_rows(named=True):
        out.append({**_event_evidence(r), "reason": r["reason"], "count": r["count"]})
    return out
