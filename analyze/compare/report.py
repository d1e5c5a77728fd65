"""A comparison as text (stdout), markdown (paste into a case), JUnit XML (CI), JSON and side-by-side HTML.

Everything from a bundle is data: control characters are removed from text, markup is escaped in
markdown, HTML is autoescaped, and the XML writer escapes what it writes. Same comparison, same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import orjson
from markupsafe import Markup

from etcd_perf.analyze.charts import overlay_chart
from etcd_perf.analyze.compare.effect import IMPROVED, NOT_COMPARABLE, REGRESSED, UNCHANGED
from etcd_perf.analyze.render import _environment, clean, md, short_ts, table
from etcd_perf.analyze.units import fmt_cell

VERDICT_MARK = {REGRESSED: "REGRESSED", IMPROVED: "IMPROVED", UNCHANGED: "UNCHANGED", NOT_COMPARABLE: "N/A"}
ORDER = {REGRESSED: 0, IMPROVED: 1, NOT_COMPARABLE: 2, UNCHANGED: 3}
KPI_HEADERS = ["member", "KPI", "baseline", "candidate", "change", "verdict", "why"]
HISTOGRAMS = (("wal_fsync", "WAL fsync"), ("backend_commit", "backend commit"), ("peer_rtt", "peer RTT"))


value = fmt_cell  # one formatting for every report and message


def change_text(row: dict) -> str:
    absolute, rel = row["change"]["absolute"], row["change"]["relative_pct"]
    if absolute is None:
        return "-"
    sign = "+" if absolute > 0 else ("-" if absolute < 0 else "±")
    text = sign + value(abs(absolute), row["unit"])
    if row["unit"] == "pct":
        text = f"{sign}{abs(absolute):.1f} points"
    if rel is not None and row["unit"] != "pct" and absolute:
        text += f" ({rel:+.0f} %)" if abs(rel) < 1000 else f" (x{row['candidate'] / row['baseline']:,.0f})"
    return text


def why(row: dict) -> str:
    d = row["detail"]
    if row["verdict"] == NOT_COMPARABLE:
        return d.get("reason") or ""
    if "resolution_ms" in d:
        lo, hi = d["bucket_ms"]
        bucket = f"{value(lo, 'ms')}-{value(hi, 'ms') if hi is not None else '+Inf'} bucket"
        moved = (
            f"; distributions {value(d['wasserstein_ms'], 'ms')} apart" if d.get("wasserstein_ms") is not None else ""
        )
        for side in ("baseline", "candidate"):
            if d.get(f"{side}_basis"):
                moved += f"; {side}: {d[f'{side}_basis']}"
        if row["verdict"] == UNCHANGED and d.get("decided_by") == "tail":
            nb, nc = d.get("above_bucket") or (0, 0)
            return (
                f"moved beyond the {bucket}, but {nb:.0f} against {nc:.0f} observations above it is within "
                f"Poisson noise{moved}"
            )
        if row["verdict"] == UNCHANGED:
            return f"within the {bucket}{moved}"
        return f"beyond the {bucket} (its width {value(d['resolution_ms'], 'ms')}){moved}"
    if "counts" in d:
        nb, nc = d["counts"]
        hb, hc = d["hours"]
        return f"{nb:g} in {hb * 60:.1f} min of log against {nc:g} in {hc * 60:.1f} min"
    return ""


def kpi_rows(c: dict, verdicts: tuple[str, ...] = (REGRESSED, IMPROVED)) -> list[list[str]]:
    rows = sorted(
        (r for r in c["kpis"] if r["verdict"] in verdicts),
        key=lambda r: (ORDER[r["verdict"]], r["member"] or "", r["kpi"]),
    )
    return [
        [
            r["member"] or "cluster",
            r["name"],
            value(r["baseline"], r["unit"]),
            value(r["candidate"], r["unit"]),
            change_text(r),
            VERDICT_MARK[r["verdict"]],
            why(r),
        ]
        for r in rows
    ]


def finding_rows(c: dict, unchanged: bool = False) -> list[list[str]]:
    """New, resolved and re-graded findings; persisting ones at the same severity too with ``unchanged``."""
    rows = []
    for f in c["findings"]["new"]:
        rows.append(["new", f["severity"], f["member"] or "cluster", f["id"], f["candidate"]["message"]])
    for f in c["findings"]["resolved"]:
        rows.append(["resolved", f["severity"], f["member"] or "cluster", f["id"], f["baseline"]["message"]])
    for f in c["findings"]["persisting"]:
        if f["change"] == "same" and not unchanged:
            continue
        sev = f["candidate_severity"]
        if f["change"] != "same":
            sev = f"{f['baseline_severity']} -> {f['candidate_severity']}"
        rows.append(["persisting", sev, f["member"] or "cluster", f["id"], f["candidate"]["message"]])
    return rows


def request_rows(c: dict) -> list[list[str]]:
    return [
        [
            r["dimension"],
            r["name"],
            f"{r['baseline']['count']:g} ({value(r['baseline']['per_hour'], 'per hour')})",
            f"{r['candidate']['count']:g} ({value(r['candidate']['per_hour'], 'per hour')})",
            r["change"],
        ]
        for r in c["requests"]
        if r["verdict"] != UNCHANGED
    ]


def side_line(side: dict) -> str:
    window = side.get("window") or {}
    return (
        f"{side['path']}: collected {short_ts(side.get('collected_at'))}, window {short_ts(window.get('start'))} -> "
        f"{short_ts(window.get('end'))} ({window.get('label')}), {side.get('status')}"
    )


def _env() -> object:
    env = _environment(False)
    env.globals.update(
        table=table,
        kpi_rows=kpi_rows,
        finding_rows=finding_rows,
        request_rows=request_rows,
        side_line=side_line,
        KPI_HEADERS=KPI_HEADERS,
        VERDICT_MARK=VERDICT_MARK,
        value=value,
        change_text=change_text,
        why=why,
    )
    return env


def render_text(c: dict) -> str:
    return _env().get_template("compare.txt.j2").render(c=c)


def render_markdown(c: dict) -> str:
    return _env().get_template("compare.md.j2").render(c=c)


def render_json(c: dict) -> bytes:
    return orjson.dumps(c, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _xml_text(s: object) -> str:
    """Text XML 1.0 can carry: control characters (from a bundle) replaced."""
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else "\N{REPLACEMENT CHARACTER}" for ch in clean(s))


def _case(suite: ET.Element, member: str | None, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_xml_text(f"etcd.{member or 'cluster'}"), name=_xml_text(name))


def _failure(case: ET.Element, message: str, severity: str, text: str) -> None:
    ET.SubElement(case, "failure", message=_xml_text(message), type=severity).text = _xml_text(text)


def _counts(suite: ET.Element, tests: int, failures: int, skipped: int = 0) -> None:
    for key, n in (("tests", tests), ("failures", failures), ("errors", 0), ("skipped", skipped)):
        suite.set(key, str(n))


def render_junit(c: dict) -> bytes:
    """One testcase per KPI and member, a failure per regression; a testcase per new or escalated finding
    that counts as a regression; a skipped testcase where a KPI is not comparable."""
    suites = ET.Element("testsuites", name="etcd-perf compare")
    kpis = ET.SubElement(suites, "testsuite", name="etcd-perf compare: KPIs")
    props = ET.SubElement(kpis, "properties")
    for key in ("verdict", "exit_code", "headline"):
        ET.SubElement(props, "property", name=key, value=_xml_text(c[key]))
    for side in ("baseline", "candidate"):
        ET.SubElement(props, "property", name=side, value=_xml_text(c[side]["path"]))
    for w in c["warnings"]:  # two clusters, a replaced member: never silent
        ET.SubElement(props, "property", name="warning", value=_xml_text(w))
    failures = skipped = 0
    for r in c["kpis"]:
        case = _case(kpis, r["member"], r["kpi"])
        text = (
            f"{r['member'] or 'cluster'} {r['name']}: {value(r['baseline'], r['unit'])} -> "
            f"{value(r['candidate'], r['unit'])} ({change_text(r)}); {why(r)}"
        )
        if r["verdict"] == REGRESSED:
            failures += 1
            sev = "critical" if r["candidate_status"] == "critical" else "warning"
            _failure(case, f"regressed ({sev}): {text}", sev, text)
        elif r["verdict"] == NOT_COMPARABLE:
            skipped += 1
            ET.SubElement(case, "skipped", message=_xml_text(r["detail"].get("reason") or "not comparable"))
        else:
            ET.SubElement(case, "system-out").text = _xml_text(f"{r['verdict']}: {text}")
    if c["warnings"]:
        ET.SubElement(kpis, "system-err").text = _xml_text("\n".join(f"WARNING: {w}" for w in c["warnings"]))
    _counts(kpis, len(c["kpis"]), failures, skipped)
    found = ET.SubElement(suites, "testsuite", name="etcd-perf compare: findings")
    listed = [("new", f) for f in c["findings"]["new"]]
    listed += [("escalated", f) for f in c["findings"]["persisting"] if f["regression"]]
    for kind, f in listed:
        case = _case(found, f["member"], f"{kind} finding {f['id']}")
        if f["regression"]:
            message = (
                f"new {f['severity']}: {f['candidate']['message']}"
                if kind == "new"
                else f"escalated {f['baseline_severity']} -> {f['candidate_severity']}"
            )
            _failure(case, message, f["candidate"]["severity"], f["candidate"]["message"])
    f_failures = sum(1 for _, f in listed if f["regression"])
    _counts(found, len(listed), f_failures)
    suites.set("tests", str(len(c["kpis"]) + len(listed)))
    suites.set("failures", str(failures + f_failures))
    ET.indent(suites)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="utf-8") + b"\n"


def charts(c: dict, base: dict, cand: dict) -> list[tuple[str, Markup]]:
    """Per matched member: per-minute p99 of each histogram and slow events per minute, both sides on
    one axis (minutes before each window's end)."""
    out = []
    by_name_b = {m.get("name"): m for m in base.get("members") or []}
    by_name_c = {m.get("name"): m for m in cand.get("members") or []}
    end_b, end_c = (base.get("window") or {}).get("end"), (cand.get("window") or {}).get("end")
    for pair in c["members"]["matched"]:
        mb, mc = by_name_b.get(pair["baseline"]) or {}, by_name_c.get(pair["candidate"]) or {}
        for key, label in HISTOGRAMS:
            sb = [
                (p["minute_end"], p["p99_ms"])
                for p in (mb.get(key) or {}).get("minutes") or []
                if p["p99_ms"] is not None
            ]
            sc = [
                (p["minute_end"], p["p99_ms"])
                for p in (mc.get(key) or {}).get("minutes") or []
                if p["p99_ms"] is not None
            ]
            svg = overlay_chart(
                f"{pair['member']}: {label} p99 per minute, baseline (dashed) and candidate",
                f"{pair['member']} {label} p99 (ms)",
                [("baseline", sb, end_b), ("candidate", sc, end_c)],
            )
            if svg:
                out.append((f"{pair['member']} {label}", Markup(svg)))
        slow_b = [(r["minute"], r["slow"]) for r in _get_minutes(base) if r["member"] == pair["baseline"]]
        slow_c = [(r["minute"], r["slow"]) for r in _get_minutes(cand) if r["member"] == pair["candidate"]]
        svg = overlay_chart(
            f"{pair['member']}: slow events per minute, baseline (dashed) and candidate",
            f"{pair['member']} slow events / min",
            [("baseline", slow_b, end_b), ("candidate", slow_c, end_c)],
        )
        if svg:
            out.append((f"{pair['member']} slow events", Markup(svg)))
    return out


def _get_minutes(a: dict) -> list[dict]:
    return ((a.get("timeline") or {}).get("minutes")) or []


def render_html(c: dict, base: dict, cand: dict) -> str:
    env = _environment(True)
    env.globals.update(
        kpi_rows=kpi_rows,
        finding_rows=finding_rows,
        request_rows=request_rows,
        KPI_HEADERS=KPI_HEADERS,
        VERDICT_MARK=VERDICT_MARK,
        value=value,
        change_text=change_text,
        why=why,
        md=md,
    )
    return env.get_template("compare.html.j2").render(c=c, charts=charts(c, base, cand))
