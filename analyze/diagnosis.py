"""From measures to causes: which member is the bottleneck, why, and which members only felt it.

Followers that log "lost leader" are symptoms; the leader that stalled or sat on a slow disk is the
cause. Each hypothesis names its evidence (signals and log lines) and a confidence, and the
executive summary leads with the strongest one in a sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from etcd_perf.analyze.elections import DISK_NEAR, fsync_spans, paused_through
from etcd_perf.analyze.measures import DEFAULT_ELECTION_TIMEOUT_MS, ClusterView, MemberView
from etcd_perf.analyze.rules import Rule, default_rules, rules_section
from etcd_perf.analyze.units import fmt_span, fmt_value
from etcd_perf.gather.bundle import Bundle

CAUSE_BEFORE = timedelta(seconds=30)  # what the old leader logged this long before an election
CAUSE_AFTER = timedelta(seconds=10)  # a stopped process logs its late heartbeats after it resumes
CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Limits:
    """The thresholds the diagnosis shares with the rules (rules.yaml, --thresholds): read from the rules,
    so an override moves a finding and the cause it points at together."""

    wal_fsync_p99_ms: float
    peer_rtt_p99_ms: float

    @classmethod
    def of(cls, rules: tuple[Rule, ...]) -> Limits:
        given, defaults = {r.id: r for r in rules}, {r.id: r for r in default_rules()}

        def limit(rule_id: str) -> float:
            # a rule's warning, else its critical (an override may null one), else the shipped warning
            ranked = (given.get(rule_id), defaults[rule_id])
            return float(next(v for r in ranked if r for v in (r.warning, r.critical) if v is not None))

        return cls(limit("wal_fsync_p99"), limit("peer_rtt_p99"))


@dataclass
class Hypothesis:
    cause: str  # slow_disk | leader_stall | peer_unreachable | network | space | clock | heavy_requests
    members: list[str]
    confidence: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    score: float = 0.0


def _disk(view: ClusterView, limits: Limits) -> list[Hypothesis]:
    out = []
    for m in view.members:
        s = m.signals
        # a fsync a frozen leader woke up in is the freeze (a stall hypothesis), not the disk; the
        # histogram counted it too
        frozen = s.get("wal_fsync_frozen_count") or 0
        logged = s.get("wal_fsync_slow_disk_count") or 0
        counted = max((s.get("wal_fsync_over_1s_counted") or 0) - frozen, 0)
        p99 = s.get("wal_fsync_p99_ms")
        evidence, score = [], 0.0
        if logged:
            slowest = fmt_value(s["wal_fsync_slow_max_ms"], "ms")
            when = f", {fmt_span(*span)}" if (span := m.spans.get("wal_fsync_slow")) else ""
            evidence.append(f"{logged} WAL fsync(s) over 1 s in its log (slowest {slowest}{when})")
            score += 3 + logged / 10
        if counted >= 0.5:
            evidence.append(f"{counted:.0f} fsync(s) above 1 s in its WAL fsync histogram")
            score += 2
        if p99 is not None and p99 > limits.wal_fsync_p99_ms:
            under = fmt_value(limits.wal_fsync_p99_ms, "ms")
            evidence.append(f"WAL fsync p99 {fmt_value(p99, 'ms')} (recommended under {under})")
            score += 1
        # pauses while its disk was quiet are a stall's (see _stall), not the disk's
        near_disk = (s.get("heartbeat_failures") or 0) - (s.get("heartbeat_pauses") or 0)
        if score and near_disk > 0:
            evidence.append(f"{near_disk} heartbeat(s) sent late while it led")
            score += 0.5
        if score:
            confidence = "high" if (logged or counted >= 0.5) else "medium"
            out.append(Hypothesis("slow_disk", [m.name], confidence, f"slow disk on {m.name}", evidence, score))
    return out


def _stalls_at_elections(view: ClusterView, causes: dict[int, dict]) -> dict[str, list[str]]:
    """member -> the elections in the window its stall caused, as evidence (a leader frozen without a
    word: one fsync spanning the election, or the new term learned seconds late)."""
    out: dict[str, list[str]] = {}
    for e in view.elections_in_window:
        cause = causes.get(e.term)
        if cause and cause["cause"] == "leader_stall" and e.ts is not None:
            out.setdefault(cause["cause_member"], []).append(
                f"the election of term {e.term} ({fmt_span(e.ts, e.ts)}): {cause['explanation']}"
            )
    return out


def stall_min_late_of_election_timeout() -> float:
    """How late (a fraction of the member's election timeout) a heartbeat of a leader with no slow disk must
    be for the diagnosis to call it stalled (rules.yaml, diagnosis)."""
    return float(rules_section("diagnosis")["stall_min_late_of_election_timeout"])


def _stall_bar_ms(m: MemberView | None) -> float:
    """How late (ms) a heartbeat of ``m`` must be to say it stalled: the share of its election timeout that
    rules.yaml sets (etcd's default timeout where its log does not give one)."""
    timeout_ms = (m.signals.get("election_timeout_ms") if m else None) or DEFAULT_ELECTION_TIMEOUT_MS
    return stall_min_late_of_election_timeout() * timeout_ms


def _stall_heartbeats(m: MemberView, disk_members: set[str]) -> tuple[int, float | None]:
    """The late heartbeats that say ``m`` stalled as leader, and the worst one's lateness in ms; (0, None) if
    none do. On a member with a slow disk, only pauses of a second or more while its disk was quiet (its disk
    explains the rest); on any other, all of them once one was late by a real fraction of its election
    timeout: a few tens of ms is a busy node's scheduling jitter, not a stalled process."""
    s = m.signals
    if m.name in disk_members:
        return s.get("heartbeat_pauses") or 0, s.get("heartbeat_pause_max_ms")
    late, worst = s.get("heartbeat_failures") or 0, s.get("heartbeat_max_exceeded_ms")
    if not late or worst is None or worst < _stall_bar_ms(m):
        return 0, None
    return late, worst


def _stall(view: ClusterView, disk_members: set[str], froze: dict[str, list[str]] | None = None) -> list[Hypothesis]:
    froze = froze or {}
    out = []
    for m in view.members:
        s = m.signals
        frozen = s.get("wal_fsync_frozen_count") or 0
        late, worst = _stall_heartbeats(m, disk_members)
        if m.name in disk_members:
            quiet = f"no slow fsync within {DISK_NEAR.total_seconds():.0f} s"
            why = f"while its disk was quiet ({quiet}): the process was paused or starved of CPU"
        else:
            why = (
                f"and {frozen} WAL fsync(s) that spanned an election while it logged nothing else: "
                "the process was paused, not the disk"
                if frozen
                else "with no slow fsync: the process was paused or starved of CPU"
            )
        if not late:
            if m.name in froze:
                summary = f"a stalled leader process on {m.name}"
                out.append(Hypothesis("leader_stall", [m.name], "medium", summary, froze[m.name], 1.5))
            continue
        when = f", {fmt_span(*span)}" if (span := m.spans.get("heartbeat_slow")) and m.name not in disk_members else ""
        worst_text = fmt_value(worst, "ms")
        evidence = [f"{late} heartbeat(s) sent late as leader (worst {worst_text} over the limit{when}) {why}"]
        evidence += froze.get(m.name, [])
        out.append(
            Hypothesis(
                "leader_stall", [m.name], "medium", f"a stalled leader process on {m.name}", evidence, 1.5 + late / 20
            )
        )
    return out


def _troubled_links(view: ClusterView, slow_ms: float) -> dict[tuple[str, str], tuple[int, float | None]]:
    """(member, peer) -> the member's network warnings about that peer and its round-trip p99 to it,
    for every pair where either says something is wrong."""
    links: dict[tuple[str, str], tuple[int, float | None]] = {}
    for m in view.members:
        for peer in sorted(set(m.peer_warnings) | set(m.peer_rtt_p99_ms)):
            warnings = sum(m.peer_warnings.get(peer, {}).values())
            rtt = m.peer_rtt_p99_ms.get(peer)
            if warnings or (rtt is not None and rtt > slow_ms):
                links[(m.name, peer)] = (warnings, rtt)
    return links


def _peers_lost(
    view: ClusterView,
    links: dict[tuple[str, str], tuple[int, float | None]],
    disk_members: set[str],
    froze: dict[str, list[str]],
    slow_ms: float,
) -> tuple[list[tuple[Hypothesis, str]], set[tuple[str, str]]]:
    """The members their peers lost (each with what it went through, if its logs say), and the troubled
    links that explains.

    When a member restarts, stalls or loses its link, each peer logs lost streams and failed probes
    *about that member*, and its round trips to it alone go up. First, a member that restarted or
    stalled in the window is the cause of any peer's trouble with it (not of its own trouble with a
    peer: that peer may have a slow link). Then, of the links left, a member
    that at least two peers had trouble with and that every one of those links leads to is the cause
    (its node or its link): a network-wide problem would show between the others too."""
    by_name = {m.name: m for m in view.members}
    lost: list[tuple[Hypothesis, str]] = []
    explained: set[tuple[str, str]] = set()

    def reporters_of(x: str, among: dict) -> list[str]:
        return sorted({r for r, p in among if p == x and r != x and r in by_name})

    for x in sorted({peer for _, peer in links}):
        did, why = _why_unreachable(by_name.get(x), disk_members, froze.get(x, []))
        if did and (reporters := reporters_of(x, links)):
            summary = f"{x} {did}, so its peers lost it: their network trouble points at {x}, not at the network"
            evidence = [_seen(by_name[r], x, links[(r, x)], slow_ms) for r in reporters] + why
            lost.append((Hypothesis("peer_unreachable", [x], "high", summary, evidence, 2.5), did))
            # its peers' trouble with it; what it saw of them (a slow link into one of them) stays
            explained |= {link for link in links if link[1] == x}
    rest = {link: seen for link, seen in links.items() if link not in explained}
    everyone = set.intersection(*({a, b} for a, b in rest)) if rest else set()
    for x in sorted(everyone):
        if len(reporters := reporters_of(x, rest)) >= 2:
            summary = f"{x} unreachable from its peers (its node or its network link), not the whole network"
            evidence = [_seen(by_name[r], x, rest[(r, x)], slow_ms) for r in reporters]
            lost.append((Hypothesis("peer_unreachable", [x], "medium", summary, evidence, 2.0), ""))
            explained |= set(rest)
            break
    return lost, explained


def _seen(reporter: MemberView, peer: str, link: tuple[int, float | None], slow_ms: float) -> str:
    """What one member saw of a peer: its warnings about it, its round trip to it against the others."""
    warnings, rtt = link
    seen = [f"{warnings} network warning(s) about it"] if warnings else []
    if rtt is not None and rtt > slow_ms:
        others = sorted((p, ms) for p, ms in reporter.peer_rtt_p99_ms.items() if p != peer)
        against = " against " + ", ".join(f"{fmt_value(ms, 'ms')} to {p}" for p, ms in others) if others else ""
        seen.append(f"round-trip p99 {fmt_value(rtt, 'ms')} to it{against}")
    return f"{reporter.name} saw trouble with it: {'; '.join(seen)}"


def _why_unreachable(m: MemberView | None, disk_members: set[str], froze: list[str]) -> tuple[str, list[str]]:
    """What the member's own logs say it went through in the window (restarts, a stall), in a few words
    and as evidence. Late heartbeats near a slow fsync of its own are its disk's, not a stall."""
    if m is None:
        return "", []
    s = m.signals
    did, out = [], []
    if m.restarts_in_window:
        did.append("restarted")
        times = ", ".join(t.strftime("%H:%M:%S") for t in m.restarts_in_window)
        out.append(f"restarted {len(m.restarts_in_window)} time(s) in the window (at {times} UTC)")
        if s.get("fatal_errors"):  # counted over all its logs: said only where a restart in the window needs it
            out.append(f"its last fatal error: {s.get('fatal_error_last')}")
    frozen = s.get("wal_fsync_frozen_count") or 0
    late, _ = _stall_heartbeats(m, disk_members)
    if frozen or late or froze:
        did.append("stalled")
        if frozen:
            out.append(f"{frozen} WAL fsync(s) spanned an election while it logged nothing else: it was paused")
        if late:
            out.append(f"{late} heartbeat(s) sent late as leader")
        out += froze
    return " and ".join(did), out


def _network(
    view: ClusterView,
    limits: Limits,
    disk_members: set[str] | None = None,
    stalls: list[Hypothesis] | None = None,
    froze: dict[str, list[str]] | None = None,
) -> list[Hypothesis]:
    """The members its peers lost (see ``_peers_lost``), then network trouble for what they do not explain.

    A lost member that only stalled, with its own stall hypothesis, lends that hypothesis its peers'
    evidence instead of standing beside it."""
    slow_ms = limits.peer_rtt_p99_ms
    links = _troubled_links(view, slow_ms)
    lost, explained = _peers_lost(view, links, disk_members or set(), froze or {}, slow_ms)
    if not lost:
        return _network_by_member(view, slow_ms)
    stall_of = {h.members[0]: h for h in stalls or []}
    out = []
    for h, did in lost:
        x = h.members[0]
        if x in stall_of and did == "stalled":
            stall_of[x].evidence += [e for e in h.evidence if " saw trouble with it: " in e]
            stall_of[x].score += 0.5
        else:
            out.append(h)
    rest = {link: seen for link, seen in links.items() if link not in explained}
    return out + _network_by_link(view, rest, slow_ms)


def _network_by_link(
    view: ClusterView, links: dict[tuple[str, str], tuple[int, float | None]], slow_ms: float
) -> list[Hypothesis]:
    """Network trouble per member, from its troubled links that no lost peer explains."""
    out = []
    for m in view.members:
        peers = sorted(p for r, p in links if r == m.name)
        kinds = [m.peer_warnings.get(p, {}) for p in peers]
        slow = [(p, rtt) for p in peers if (rtt := links[(m.name, p)][1]) is not None and rtt > slow_ms]
        warnings = sum(links[(m.name, p)][0] for p in peers)
        h = _network_trouble(
            m.name,
            sum(k.get("peer_unhealthy", 0) for k in kinds),
            sum(k.get("message_dropped", 0) for k in kinds),
            [f" to {p}" for p, _ in slow],
            [rtt for _, rtt in slow],
            f"{warnings} network warning(s) about {', '.join(peers)}" if warnings else None,
            slow_ms,
        )
        out += [h] if h else []
    return out


def _network_by_member(view: ClusterView, slow_ms: float) -> list[Hypothesis]:
    """Network trouble per member, from its own totals (no member is one its peers lost)."""
    out = []
    for m in view.members:
        s = m.signals
        rtt = s.get("peer_rtt_p99_ms")
        slow = rtt is not None and rtt > slow_ms
        h = _network_trouble(
            m.name,
            s.get("peer_unhealthy_count") or 0,
            s.get("message_dropped_count") or 0,
            [""] if slow else [],
            [rtt] if slow else [],
            None,
            slow_ms,
        )
        out += [h] if h else []
    return out


def _network_trouble(
    member: str, unhealthy: int, dropped: int, to: list[str], rtts: list, otherwise: str | None, slow_ms: float
) -> Hypothesis | None:
    """One member's network hypothesis: unhealthy probes, dropped messages and slow round trips (``to``
    names each one's peer, or is empty), else ``otherwise``; a probe or a drop makes it medium."""
    evidence = []
    if unhealthy:
        evidence.append(f"{unhealthy} unhealthy peer probe(s)")
    if dropped:
        evidence.append(f"{dropped} raft message(s) dropped (send buffer full)")
    for peer, rtt in zip(to, rtts, strict=True):
        evidence.append(f"peer RTT p99 {fmt_value(rtt, 'ms')}{peer} (recommended under {fmt_value(slow_ms, 'ms')})")
    if not evidence and otherwise:
        evidence.append(otherwise)
    if not evidence:
        return None
    return Hypothesis(
        "network",
        [member],
        "medium" if (dropped or unhealthy) else "low",
        f"network trouble between {member} and its peers",
        evidence,
        1 + (1 if dropped else 0) + (0.5 if unhealthy else 0),
    )


def _space(view: ClusterView) -> list[Hypothesis]:
    if not view.alarm_names:
        return []
    raised = f" raised by {' and '.join(view.alarm_members)}" if view.alarm_members else ""
    return [
        Hypothesis(
            "space",
            view.alarm_members or [],
            "high",
            f"the {', '.join(view.alarm_names)} alarm{raised}: the cluster refuses writes",
            [f"alarm {', '.join(view.alarm_names)} active in alarm_list.json"],
            2.5,
        )
    ]


def _clock(view: ClusterView) -> list[Hypothesis]:
    drift = [m for m in view.members if m.signals.get("clock_drift_events")]
    if not drift:
        return []
    return [
        Hypothesis(
            "clock",
            [m.name for m in drift],
            "medium",
            "clock drift between members",
            [f"{m.name}: {m.signals['clock_drift_events']} clock-drift warning(s)" for m in drift],
            1.0,
        )
    ]


# one sentence per cause, whatever the number of members it concerns
SUMMARY = {
    "slow_disk": "slow disk on {members}",
    "leader_stall": "a stalled leader process on {members}",
    "network": "network trouble between {members} and {their} peers",
    "clock": "clock drift on {members}",
}


# causes that are one story per member: two members their peers lost are two events, not one
PER_MEMBER = {"peer_unreachable"}


def _merge(hyps: list[Hypothesis]) -> list[Hypothesis]:
    """One hypothesis per cause and confidence: the same cause on several members is one story, but a
    member with weaker evidence (a p99 just over its threshold) is not folded into a strong one (fsyncs
    over 1 s): "slow disk on A and B and C" would say C's disk is as bad as theirs."""
    merged: dict[tuple[str, str, str], Hypothesis] = {}
    for h in sorted(hyps, key=lambda h: (-h.score, h.cause, h.members)):
        key = (h.cause, h.members[0] if h.cause in PER_MEMBER and h.members else "", h.confidence)
        if key in merged:
            m = merged[key]
            m.members += [x for x in h.members if x not in m.members]
            m.evidence += [f"{h.members[0]}: {e}" for e in h.evidence]
            m.score += h.score
            if CONFIDENCE_RANK[h.confidence] < CONFIDENCE_RANK[m.confidence]:
                m.confidence = h.confidence
        else:
            merged[key] = Hypothesis(
                h.cause,
                list(h.members),
                h.confidence,
                h.summary,
                [f"{h.members[0]}: {e}" for e in h.evidence] if h.members else list(h.evidence),
                h.score,
            )
    for h in merged.values():
        if h.cause in SUMMARY and h.members:
            h.summary = SUMMARY[h.cause].format(
                members=" and ".join(h.members), their="their" if len(h.members) > 1 else "its"
            )
    return sorted(merged.values(), key=lambda h: (CONFIDENCE_RANK[h.confidence], -h.score, h.cause, h.members))


def election_causes(bundle: Bundle, view: ClusterView) -> dict[int, dict]:
    """For each election: the old leader's trouble around it (the cause) and who only noticed it."""
    causes: dict[int, dict] = {}
    if not view.elections:
        return causes
    # only the fields read below: these kinds' texts copied and sorted were the analysis' highest memory
    troubles = bundle.of(*CAUSE_KINDS, columns=CAUSE_COLUMNS)
    term_events = bundle.of(*TERM_KINDS, columns=["member", "kind", "ts", "term"])
    for e in view.elections:
        old = e.previous_leader
        if old is None or e.ts is None:
            continue
        stop = view.planned_elections.get(e.term)
        if stop is not None:
            causes[e.term] = _planned_cause(e, stop, term_events)
            continue
        around = troubles.filter(
            (pl.col("member") == old) & pl.col("ts").is_between(e.ts - CAUSE_BEFORE, e.ts + CAUSE_AFTER)
        )
        kind, why = _closest_cause(_without_jitter(around, view, old), e.ts, lambda old=old: _logged_by(bundle, old))
        away, away_why = _not_running(bundle, old, e.ts)
        late = None if away else _learned_late(term_events, old, e.term, e.ts)
        if kind in ("network", "unknown") and late is not None:
            kind, why = "leader_stall", f"the old leader learned of the election {late:.1f} s late: it was frozen"
        elif kind in ("network", "unknown") and away:
            kind, why = away, away_why
        first = around.sort("ts").head(3)
        causes[e.term] = {
            "cause_member": old,
            "cause": kind,
            "explanation": why,
            "old_leader_late_heartbeats": around.filter(pl.col("kind") == "heartbeat_slow").height,
            "old_leader_missed_ticks": around.filter(pl.col("kind") == "tick_missed").height,
            **_who_noticed(term_events, e, old),
            "evidence": [
                {"file": r["file"], "line": int(r["line"]), "ts": r["ts"], "excerpt": None}
                for r in first.iter_rows(named=True)
            ],
        }
    return causes


def _without_jitter(around: pl.DataFrame, view: ClusterView, old: str) -> pl.DataFrame:
    """The old leader's trouble less its heartbeats sent only a little late (under the share of its election
    timeout a stall needs, rules.yaml diagnosis): a busy node's jitter explains no election."""
    bar_ms = _stall_bar_ms(next((m for m in view.members if m.name == old), None))
    jitter = (pl.col("kind") == "heartbeat_slow") & (pl.col("exceeded_ms") < bar_ms)
    return around.filter(~jitter.fill_null(False))


def _who_noticed(term_events: pl.DataFrame, e, old: str) -> dict:
    return {
        "pre_candidates": sorted(
            set(
                term_events.filter((pl.col("kind") == "raft_became_precandidate") & (pl.col("term") == e.term - 1))[
                    "member"
                ].to_list()
            )
        ),
        "lost_leader_seen_by": sorted(
            set(
                term_events.filter(
                    (pl.col("kind") == "raft_leader_lost") & (pl.col("term").is_in([e.term - 1, e.term]))
                )["member"].to_list()
            )
        ),
        "symptom_members": [m for m in e.observed_by if m != old],
    }


def _planned_cause(e, stop, term_events: pl.DataFrame) -> dict:
    """An election that followed the platform stopping the old leader's member: planned work (a static-pod
    rollout, a node reboot), with the installer pod and the events as evidence; nothing to fix in etcd."""
    return {
        "cause_member": e.previous_leader,
        "cause": stop.cause,
        "planned": True,
        "revision": stop.revision,
        "installer": stop.installer,
        "stopped": stop.stopped,
        "explanation": f"the platform stopped the old leader: {stop.summary}; planned work, not etcd trouble",
        "old_leader_late_heartbeats": 0,
        "old_leader_missed_ticks": 0,
        **_who_noticed(term_events, e, e.previous_leader),
        "evidence": [dict(x) for x in stop.evidence],
    }


def _not_running(bundle: Bundle, member: str, at) -> tuple[str, str]:
    """("restart" or "unknown", why) when the member's logs do not span ``at``, else ("", "").

    A member whose logs do not cover an election cannot have "learned it late". When its next log begins
    with etcd starting, it was down and came back: a restart. A log that merely begins later (the earlier
    part rotated away, or not collected) says nothing of what the process did then: no verdict."""
    files = [
        f
        for f in bundle.log_files
        if f.member == member and f.stats.first_ts is not None and f.stats.last_ts is not None
    ]
    if not files or any(f.stats.first_ts <= at <= f.stats.last_ts + RUNNING_SLACK for f in files):
        return "", ""
    before = [f.stats.last_ts for f in files if f.stats.last_ts < at]
    after = sorted((f for f in files if f.stats.first_ts > at), key=lambda f: f.stats.first_ts)
    said = [f"its log ends at {max(before):%H:%M:%S} UTC"] if before else []
    if after:
        nxt = after[0]
        starts = bundle.of("server_start", columns=["ts", "file"]).filter(
            (pl.col("member") == member) & (pl.col("file") == nxt.file)
        )
        began = starts["ts"].min() if starts.height else None
        if began is not None and began - nxt.stats.first_ts <= START_WITHIN:
            said.append(f"its next log begins at {nxt.stats.first_ts:%H:%M:%S} UTC, with etcd starting again")
            return "restart", (
                f"the old leader was not running at the election: {' and '.join(said)}; "
                "the log in between is not in the bundle"
            )
        said.append(f"its next log begins at {nxt.stats.first_ts:%H:%M:%S} UTC, not with etcd starting")
    return "unknown", (
        f"the old leader's logs do not cover the election ({' and '.join(said)}): the part that would say "
        "why is not in the bundle (rotated away or not collected)"
    )


# a log that begins with etcd starting: its start-up line this soon after its first line (the container's
# preamble waits for the old pod's ports, up to a minute in the real bundles)
START_WITHIN = timedelta(minutes=3)
RUNNING_SLACK = timedelta(seconds=2)


CAUSE_KINDS = [
    "fatal_error",
    "wal_fsync_slow",
    "heartbeat_slow",
    "tick_missed",
    "server_start",
    "server_shutdown",
    "message_dropped",
    "peer_unhealthy",
]
# what says which term a member was in: the elections' precandidates, who lost the leader, who learned late
TERM_KINDS = [
    "raft_became_precandidate",
    "raft_became_follower",
    "raft_higher_term",
    "raft_leader_elected",
    "raft_leader_lost",
    "raft_leader_changed",
]

CAUSE_OF = {
    "wal_fsync_slow": ("slow_disk", "slow WAL fsyncs on the old leader"),
    "fatal_error": ("restart", "the old leader stopped on a fatal error (the quoted line)"),
    "server_start": ("restart", "the old leader restarted"),
    "server_shutdown": ("restart", "the old leader shut down"),
    "heartbeat_slow": ("leader_stall", "the old leader sent heartbeats late (stalled or starved of CPU)"),
    "tick_missed": ("leader_stall", "the old leader missed ticks (blocked)"),
    "message_dropped": ("network", "the old leader dropped raft messages to its peers"),
    "peer_unhealthy": ("network", "the old leader could not reach its peers"),
}


CAUSE_COLUMNS = ["member", "kind", "ts", "file", "line", "took_ms", "exceeded_ms"]


def _logged_by(bundle: Bundle, member: str) -> pl.DataFrame:
    """Everything ``member`` logged (kind and time): asked for only when a slow fsync spans an election."""
    return bundle.events_where(pl.col("member") == member, ["member", "kind", "ts"])


def _closest_cause(around: pl.DataFrame, at, mine: Callable[[], pl.DataFrame]) -> tuple[str, str]:
    """The old leader's trouble around the election (``mine`` reads everything the old leader logged: only a
    slow fsync near the election is checked against it, so it is read only then).

    A fsync spanning the election while the old leader logged nothing else is a process that was
    paused (SIGSTOP, a VM freeze): its in-flight fsync resumes "slow". Slow fsyncs around the election
    while it kept logging are a slow disk. Otherwise the nearest trouble explains it.
    """
    if around.height == 0:
        return "unknown", "nothing in the old leader's log explains it (its log may be missing)"
    near = around.filter((pl.col("kind") == "wal_fsync_slow") & (pl.col("ts") - at).abs().le(DISK_NEAR))
    logged = mine() if near.height else None
    if any(paused_through(row, logged, at) for row in near.iter_rows(named=True)):
        return "leader_stall", "the old leader froze: one fsync spans the election and it logged nothing else meanwhile"
    if near.height >= 2 or any(fsync_spans(row, at) for row in near.iter_rows(named=True)):
        return CAUSE_OF["wal_fsync_slow"]
    rest = around.filter(pl.col("kind") != "wal_fsync_slow")
    if rest.height == 0:
        # slow fsyncs long before the election (a disk that was slow earlier) do not explain it
        return CAUSE_OF["wal_fsync_slow"] if near.height else ("unknown", "nothing near the election explains it")
    nearest = rest.with_columns(d=(pl.col("ts") - at).abs()).sort("d", "kind")["kind"][0]
    return CAUSE_OF[nearest]


LEARN_LATE_S = 1.0  # followers hear of a new term within milliseconds; a frozen leader only on waking


def _learned_late(events: pl.DataFrame, old: str, term: int, at) -> float | None:
    """Seconds after the election that the old leader first logged the new term, if over a second."""
    first = events.filter(
        (pl.col("member") == old)
        & (pl.col("term") >= term)
        & pl.col("kind").is_in(
            [
                "raft_became_follower",
                "raft_higher_term",
                "raft_leader_elected",
                "raft_leader_lost",
                "raft_leader_changed",
            ]
        )
        & pl.col("ts").is_not_null()
    )["ts"].min()
    if first is None:
        return None
    late = (first - at).total_seconds()
    return late if late >= LEARN_LATE_S else None


def heavy_requests(attribution: dict, disk_members: set[str]) -> list[Hypothesis]:
    """Slow requests concentrated on one resource, without a slow disk to explain them."""
    top = attribution["by_resource"][:1]
    if disk_members or not top or attribution["count"] < 10:
        return []
    t = top[0]
    share = t["count"] / attribution["count"]
    if share < 0.5:
        return []
    return [
        Hypothesis(
            "heavy_requests",
            [],
            "medium",
            f"expensive requests on {t['resource']}",
            [
                f"{t['count']} of {attribution['count']} slow requests are {t['resource']} "
                f"(p99 {fmt_value(t['p99_ms'], 'ms')}, largest response {t['max_response_size']} bytes)"
            ],
            1.0,
        )
    ]


def diagnose(
    view: ClusterView, attribution: dict, causes: dict[int, dict] | None = None, rules: tuple[Rule, ...] | None = None
) -> dict:
    """The hypotheses, strongest first, and the headline. ``causes``: election_causes' verdicts, so that a
    leader the election timeline shows frozen is a stall here too, even when it logged no late heartbeat.
    ``rules``: the thresholds in force (the defaults when not given)."""
    limits = Limits.of(rules or default_rules())
    disk = _disk(view, limits)
    disk_members = {h.members[0] for h in disk if h.confidence == "high"}
    froze = _stalls_at_elections(view, causes or {})
    stalls = _stall(view, disk_members, froze)
    hyps = _merge(
        disk
        + stalls
        + _network(view, limits, disk_members, stalls, froze)
        + _space(view)
        + _clock(view)
        + heavy_requests(attribution, disk_members)
    )
    if hyps:
        top = hyps[0]
        firsts: dict[str, str] = {}
        for ev in top.evidence:  # the first piece of evidence per member, for one readable sentence
            firsts.setdefault(ev.split(":", 1)[0], ev)
        headline = f"Most likely bottleneck: {top.summary} ({'; '.join(list(firsts.values())[:3])})."
    else:
        headline = "No bottleneck found: nothing in the logs, metrics or etcd_info points at one."
    return {
        "headline": headline,
        "hypotheses": [
            {
                "cause": h.cause,
                "members": h.members,
                "confidence": h.confidence,
                "summary": h.summary,
                "evidence": h.evidence,
            }
            for h in hyps
        ],
    }
