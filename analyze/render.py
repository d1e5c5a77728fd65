"""Renderers: the analysis dict to text, markdown, HTML (jinja2 templates) and JSON (orjson).

Everything that comes from the bundle is untrusted text: HTML is autoescaped, markdown is
escaped so a log line cannot become a link or markup, and control characters are removed from
text output so a crafted line cannot drive the reader's terminal.
"""

from __future__ import annotations

import re
from importlib import resources

import orjson
from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape

from etcd_perf.analyze.units import fmt_value

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")
STATUS_MARK = {"pass": "OK", "warning": "WARNING", "critical": "CRITICAL", "not_measured": "NOT MEASURED"}


def clean(text: object) -> str:
    """Bundle text for a terminal or a text file: no control characters, no escape sequences."""
    return CONTROL.sub("\N{REPLACEMENT CHARACTER}", "" if text is None else str(text))


def md(text: object) -> str:
    """Bundle text for markdown: markup characters escaped, HTML neutralised, one line."""
    s = clean(text).replace("\r", " ").replace("\n", " ")
    s = MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: object) -> str:
    """Bundle text inside a markdown code span, which renders nothing inside it as markup."""
    s = clean(text).replace("\n", " ").replace("`", "'")
    return f"`` {s} ``"


def short_ts(ts: str | None) -> str:
    if not ts:
        return "-"
    return ts.replace("T", " ").rstrip("Z")[:23] + "Z"


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    cells = [[clean(c) for c in headers]] + [[clean(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def kpi_rows(analysis: dict) -> list[list[str]]:
    rows = []
    for k in analysis["kpis"]:
        rows.append(
            [
                k["name"],
                k["member"] or "cluster",
                fmt_value(k["value"], k["unit"]),
                fmt_value(k["threshold"], k["unit"]),
                STATUS_MARK[k["status"]] + (f" ({k['note']})" if k.get("note") else ""),
                k["source"] or "-",
            ]
        )
    return rows


def member_rows(analysis: dict) -> list[list[str]]:
    rows = []
    for m in analysis["members"]:
        fs, ap = m["wal_fsync"], m["slow_apply"]
        fsync = (
            "-"
            if fs["slow_count"] is None
            else (f"{fs['slow_count']}" + (f" (max {fmt_value(fs['max_ms'], 'ms')})" if fs["slow_count"] else ""))
        )
        applies = (
            "-"
            if ap["count"] is None
            else (f"{ap['count']}" + (f" (p99 {fmt_value(ap['p99_ms'], 'ms')})" if ap["count"] else ""))
        )
        health = "-" if m["health"] is None else ("ok" if m["health"]["healthy"] else "FAILED")
        rows.append(
            [
                m["name"],
                m["id"] or "-",
                {True: "yes", False: "no", None: "?"}[m["is_leader"]],
                m["version"] or "-",
                fmt_value(m["db_size_bytes"], "bytes") if m["db_size_bytes"] is not None else "-",
                fmt_value(m["fragmentation_pct"], "pct") if m["fragmentation_pct"] is not None else "-",
                str(m["raft_term"]) if m["raft_term"] is not None else "-",
                fsync,
                applies,
                "-" if m["heartbeat_failures"] is None else str(m["heartbeat_failures"]),
                "-" if m["restarts"] is None else str(m["restarts"]),
                ", ".join(m["alarms"]) or "-",
                health,
            ]
        )
    return rows


MEMBER_HEADERS = [
    "member",
    "id",
    "leader",
    "version",
    "db size",
    "frag",
    "term",
    "fsyncs>1s",
    "slow applies",
    "late heartbeats",
    "restarts",
    "alarms",
    "health",
]
KPI_HEADERS = ["KPI", "member", "value", "threshold", "status", "source"]


def election_rows(analysis: dict) -> list[list[str]]:
    return [
        [
            str(e["term"]),
            short_ts(e["ts"]),
            e["leader"],
            e["previous_leader"] or "-",
            _caused_by(e["cause"]) if e.get("cause") else "-",
            ", ".join(e["candidates"]) or "-",
            "yes" if e["in_window"] else "no",
        ]
        for e in analysis["cluster"]["elections"]
    ]


def _caused_by(cause: dict) -> str:
    what = cause["cause"].replace("_", " ")
    if cause.get("revision") is not None:
        what += f" of revision {cause['revision']} (planned)"
    elif cause.get("planned"):
        what += " (planned)"
    return f"{cause['cause_member']}: {what}"


ROLLOUT_HEADERS = ["revision", "member", "rollout began", "old pod stopped", "member back", "trigger", "installer"]


def rollout_rows(analysis: dict) -> list[list[str]]:
    """The static-pod revisions the etcd operator rolled out, node by node, in time order."""
    return [
        [
            str(r["revision"]),
            r["member"] or r["node"],
            short_ts(r["started"]),
            short_ts(r["stopped"]),
            short_ts(r["finished"]),
            r["trigger"] or "-",
            r["installer"] or "-",
        ]
        for r in analysis["rollouts"]
    ]


LATENCY_HEADERS = ["member", "metric", "p50", "p90", "p99", "worst minute p99", "worst minute", "source"]
LATENCY_NAMES = {
    "wal_fsync": "WAL fsync",
    "backend_commit": "backend commit",
    "peer_rtt": "peer RTT",
    "grpc_unary": "gRPC unary",
}


def latency_rows(analysis: dict) -> list[list[str]]:
    """True percentiles from metrics, per member and metric; rows without metrics say so."""
    rows = []
    for m in analysis["members"]:
        for key, label in LATENCY_NAMES.items():
            d = m[key]
            if d.get("source") in (None, "logs"):
                continue
            rows.append(
                [
                    m["name"],
                    label,
                    fmt_value(d["p50_ms"], "ms"),
                    fmt_value(d["p90_ms"], "ms"),
                    fmt_value(d["p99_ms"], "ms"),
                    "-" if d["worst_minute_p99_ms"] is None else fmt_value(d["worst_minute_p99_ms"], "ms"),
                    d["worst_minute"] or "-",
                    d["source"],
                ]
            )
    return rows


ELECTION_HEADERS = ["term", "time (UTC)", "leader", "previous", "caused by", "campaigned", "in window"]
REQUEST_HEADERS = ["", "count", "p50", "p99", "max", "time lost", "largest response"]


def request_rows(analysis: dict, dimension: str) -> list[list[str]]:
    """Top slow requests by one dimension (resource, namespace, operation, access, member)."""
    key = dimension.removeprefix("by_")
    rows = []
    for r in analysis["requests"][dimension]:
        size = r["max_response_size"]
        rows.append(
            [
                str(r[key]),
                str(r["count"]),
                fmt_value(r["p50_ms"], "ms"),
                fmt_value(r["p99_ms"], "ms"),
                fmt_value(r["max_ms"], "ms"),
                fmt_value(r["total_ms"], "ms"),
                "-" if size is None else fmt_value(size, "bytes"),
            ]
        )
    return rows


TRACE_HEADERS = ["phase", "steps", "time", "share", "longest step"]


def trace_rows(analysis: dict) -> list[list[str]]:
    return [
        [
            r["phase"],
            str(r["steps"]),
            fmt_value(r["total_ms"], "ms"),
            fmt_value(r["share_pct"], "pct"),
            fmt_value(r["max_ms"], "ms"),
        ]
        for r in analysis["traces"]["by_phase"]
    ]


CAPACITY_HEADERS = ["member", "db size", "in use", "free", "quota", "quota used", "defrag would help"]


def capacity_rows(analysis: dict) -> list[list[str]]:
    def b(v: object) -> str:
        return "-" if v is None else fmt_value(v, "bytes")

    return [
        [
            c["member"],
            b(c["db_size_bytes"]),
            b(c["db_in_use_bytes"]),
            b(c["free_bytes"]),
            b(c["quota_bytes"]),
            "-" if c["quota_used_pct"] is None else fmt_value(c["quota_used_pct"], "pct"),
            "yes" if c["defrag_would_help"] else "no",
        ]
        for c in analysis["capacity"]["members"]
    ]


def _template_source(name: str) -> str:
    return resources.files("etcd_perf.analyze").joinpath("templates", name).read_text(encoding="utf-8")


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FunctionLoader(_template_source),
        autoescape=select_autoescape(["html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(clean=clean, md=md, md_code=md_code, v=fmt_value, ts=short_ts)
    env.globals.update(
        table=table,
        kpi_rows=kpi_rows,
        member_rows=member_rows,
        election_rows=election_rows,
        rollout_rows=rollout_rows,
        ROLLOUT_HEADERS=ROLLOUT_HEADERS,
        latency_rows=latency_rows,
        request_rows=request_rows,
        capacity_rows=capacity_rows,
        trace_rows=trace_rows,
        TRACE_HEADERS=TRACE_HEADERS,
        REQUEST_HEADERS=REQUEST_HEADERS,
        CAPACITY_HEADERS=CAPACITY_HEADERS,
        LATENCY_HEADERS=LATENCY_HEADERS,
        KPI_HEADERS=KPI_HEADERS,
        MEMBER_HEADERS=MEMBER_HEADERS,
        ELECTION_HEADERS=ELECTION_HEADERS,
        STATUS_MARK=STATUS_MARK,
    )
    return env


def render_text(analysis: dict, template: str = "report.txt.j2") -> str:
    return _environment(False).get_template(template).render(a=analysis)


def render_markdown(analysis: dict) -> str:
    return _environment(False).get_template("report.md.j2").render(a=analysis)


SEVERITY_ORDER = {"critical": 3, "warning": 2, "info": 1}


def matrix(analysis: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Members by subsystem: the worst finding severity in each cell ("" where none)."""
    subsystems = sorted({f["subsystem"] for f in analysis["findings"] if f["member"]})
    rows = []
    for m in analysis["members"]:
        cells = []
        for sub in subsystems:
            sev = [f["severity"] for f in analysis["findings"] if f["member"] == m["name"] and f["subsystem"] == sub]
            cells.append(max(sev, key=lambda x: SEVERITY_ORDER[x]) if sev else "")
        rows.append((m["name"], cells))
    return subsystems, rows


def render_html(analysis: dict) -> str:
    from markupsafe import Markup

    from etcd_perf.analyze.charts import latency_chart, slow_events_chart

    charts = [
        slow_events_chart(analysis),
        latency_chart(analysis, "wal_fsync", "WAL fsync"),
        latency_chart(analysis, "backend_commit", "backend commit"),
        latency_chart(analysis, "peer_rtt", "peer RTT"),
    ]
    env = _environment(True)
    env.globals.update(matrix=matrix)
    return env.get_template("report.html.j2").render(a=analysis, charts=[Markup(c) for c in charts if c])


def render_json(analysis: dict) -> bytes:
    return orjson.dumps(analysis, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
