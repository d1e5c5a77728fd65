"""A cluster's history as text, markdown, JSON and HTML with SVG trend charts (same store, same bytes)."""

from __future__ import annotations

import orjson
from markupsafe import Markup

from etcd_perf.analyze.charts import trend_chart
from etcd_perf.analyze.compare.report import value
from etcd_perf.analyze.render import _environment, short_ts, table
from etcd_perf.analyze.units import fmt_bytes


def step_rows(c: dict) -> list[list[str]]:
    return [
        [
            short_ts(s["at"]),
            s["member"] or "cluster",
            s["name"],
            f"{value(s['mean_before'], s['unit'])} -> {value(s['mean_after'], s['unit'])}",
            s["verdict"] or "-",
            f"{s['p_value']:.3f}",
        ]
        for s in c["steps"]
    ]


def capacity_rows(c: dict) -> list[list[str]]:
    def b(v: float | None) -> str:
        return "-" if v is None else fmt_bytes(v)

    def per_day(v: float | None) -> str:
        return "-" if v is None else ("+" if v >= 0 else "-") + fmt_bytes(abs(v)) + "/day"

    return [
        [
            r["member"],
            f"{b(r['db_size_bytes_first'])} -> {b(r['db_size_bytes_last'])}",
            per_day(r["db_size_growth_bytes_per_day"]),
            per_day(r["db_in_use_growth_bytes_per_day"]),
            b(r["quota_bytes"]),
            "-" if r["days_to_quota"] is None else f"{r['days_to_quota']:.1f} days ({short_ts(r['quota_reached_at'])})",
        ]
        for r in c["capacity"]
    ]


def recurring_rows(c: dict) -> list[list[str]]:
    return [
        [
            r["finding"],
            r["member"] or "cluster",
            str(r["bundles"]),
            short_ts(r["first"]),
            short_ts(r["last"]),
            r["worst"],
        ]
        for r in c["recurring_findings"]
    ]


def rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


STEP_HEADERS = ["at", "member", "KPI", "mean before -> after", "compare", "p"]
CAPACITY_HEADERS = ["member", "DB size", "growth", "in-use growth", "quota", "quota reached at this rate"]
RECURRING_HEADERS = ["finding", "member", "bundles", "first", "last", "worst"]


def _env(autoescape: bool) -> object:
    env = _environment(autoescape)
    env.globals.update(
        table=table,
        step_rows=step_rows,
        capacity_rows=capacity_rows,
        recurring_rows=recurring_rows,
        rate=rate,
        STEP_HEADERS=STEP_HEADERS,
        CAPACITY_HEADERS=CAPACITY_HEADERS,
        RECURRING_HEADERS=RECURRING_HEADERS,
    )
    return env


def render_text(h: dict) -> str:
    return _env(False).get_template("history.txt.j2").render(h=h)


def render_markdown(h: dict) -> str:
    return _env(False).get_template("history.md.j2").render(h=h)


def render_json(h: dict) -> bytes:
    return orjson.dumps(h, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def charts(c: dict) -> list[tuple[str, Markup]]:
    """One chart per KPI: every member's series, change points marked; KPIs without any value left out."""
    out = []
    by_kpi: dict[str, list[dict]] = {}
    for s in c["series"]:
        by_kpi.setdefault(s["kpi"], []).append(s)
    for kpi, series in by_kpi.items():
        lines = {s["member"] or "cluster": [(p["collected_at"], p["value"]) for p in s["points"]] for s in series}
        if not any(v is not None for pts in lines.values() for _, v in pts):
            continue
        marks = sorted({cp["at"] for s in series for cp in s["change_points"]})
        unit = series[0]["unit"]
        svg = trend_chart(f"{series[0]['name']} over the bundles", f"{series[0]['name']} ({unit})", lines, marks)
        if svg:
            out.append((kpi, Markup(svg)))
    return out


def render_html(h: dict) -> str:
    env = _env(True)
    return env.get_template("history.html.j2").render(h=h, charts={c["cluster"]: charts(c) for c in h["clusters"]})
