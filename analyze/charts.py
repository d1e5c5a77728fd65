"""Inline SVG charts for the HTML report: no scripts, no external files, deterministic bytes.

Every label that comes from the bundle is XML-escaped; coordinates are rounded to one decimal so the
same analysis always draws the same picture.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
PALETTE = ["#1a73e8", "#d93025", "#188038", "#e37400", "#9334e6", "#12b5cb", "#5f6368"]


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _axes(t0: float, t1: float, ymax: float, ylabel: str) -> list[str]:
    parts = [
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<text x="{LEFT}" y="14" font-size="11">{escape(ylabel)}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" font-size="10" text-anchor="end">{ymax:g}</text>',
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" font-size="10" text-anchor="end">0</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        t = t0 + (t1 - t0) * frac
        x = LEFT + (WIDTH - LEFT - RIGHT) * frac
        label = _hhmm(t)
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[frac]
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="{anchor}">{label}</text>'
        )
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" font-size="10" text-anchor="end">UTC</text>')
    return parts


def _hhmm(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")


def _x(t: float, t0: float, t1: float) -> float:
    span = (t1 - t0) or 1.0
    return LEFT + (WIDTH - LEFT - RIGHT) * (t - t0) / span


def _y(v: float, ymax: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (v / ymax if ymax else 0)


def _legend(members: list[str]) -> list[str]:
    out = []
    x = LEFT + 8
    for i, m in enumerate(members):
        if i:  # each entry as wide as its name (host names run to 60 characters)
            x += max(120, 14 + 6 * len(members[i - 1]) + 16)
        out.append(f'<rect x="{x}" y="{HEIGHT - 12}" width="10" height="8" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 14}" y="{HEIGHT - 4}" font-size="10">{escape(m)}</text>')
    return out


def _svg(title: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>{body}</svg>'
    )


def slow_events_chart(analysis: dict) -> str:
    """Slow events per minute per member (bars), elections as vertical marks."""
    rows = analysis["timeline"]["minutes"]
    if not rows:
        return ""
    members = sorted({r["member"] for r in rows})
    times = sorted({_t(r["minute"]) for r in rows})
    t0, t1 = times[0], times[-1] + 60
    ymax = max(max(r["slow"] for r in rows), 1)
    parts = _axes(t0, t1, ymax, "slow events / min")
    slot = (WIDTH - LEFT - RIGHT) * 60 / ((t1 - t0) or 60)
    bar = max(slot / (len(members) + 1), 1.0)
    for r in rows:
        i = members.index(r["member"])
        x = _x(_t(r["minute"]), t0, t1) + i * bar
        y = _y(r["slow"], ymax)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(r["member"])} {escape(r["minute"][11:16])}: '
            f"{r['slow']} slow</title></rect>"
        )
    for e in analysis["cluster"]["elections"]:
        if e["ts"] and t0 <= _t(e["ts"]) <= t1:
            x = _x(_t(e["ts"]), t0, t1)
            parts.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#000" '
                f'stroke-dasharray="3,3"><title>election: term {e["term"]}, {escape(e["leader"])} leads'
                f"</title></line>"
            )
            parts.append(f'<text x="{x + 2:.1f}" y="{TOP + 8}" font-size="9">t{e["term"]}</text>')
    for o in analysis.get("outages", []):
        if o["stopped"] and t0 <= _t(o["stopped"]) <= t1:
            x = _x(_t(o["stopped"]), t0, t1)
            label = f"r{o['revision']}" if o["revision"] is not None else o["cause"]
            parts.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#188038" '
                f'stroke-dasharray="1,3" stroke-width="2"><title>{escape(o["member"])} stopped by the platform: '
                f"{escape(o['summary'])}</title></line>"
            )
            parts.append(f'<text x="{x + 2:.1f}" y="{TOP + 18}" font-size="9" fill="#188038">{escape(label)}</text>')
    title = "Slow events per minute per member; dashed lines are elections, dotted green ones the platform's stops"
    return _svg(title, parts + _legend(members))


def latency_chart(analysis: dict, key: str, label: str) -> str:
    """Per-minute p99 per member from metrics (lines)."""
    series = {m["name"]: m[key]["minutes"] for m in analysis["members"] if m[key].get("minutes")}
    points = [p for s in series.values() for p in s if p["p99_ms"] is not None]
    if not points:
        return ""
    members = sorted(series)
    t0 = min(_t(p["minute_end"]) for p in points) - 60
    t1 = max(_t(p["minute_end"]) for p in points)
    ymax = max(p["p99_ms"] for p in points) or 1.0
    parts = _axes(t0, t1, round(ymax, 1), f"{label} p99 (ms)")
    for i, m in enumerate(members):
        pts = [(_x(_t(p["minute_end"]), t0, t1), _y(p["p99_ms"], ymax)) for p in series[m] if p["p99_ms"] is not None]
        if not pts:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in pts)
    return _svg(f"{label} p99 per minute per member", parts + _legend(members))


def _relative(points: list[tuple[str, float]], end: str | None) -> list[tuple[float, float]]:
    """(minutes before the window end, value): two bundles' times differ, their position in the window does not."""
    if not points:
        return []
    t_end = _t(end) if end else max(_t(ts) for ts, _ in points)
    return sorted(((_t(ts) - t_end) / 60.0, v) for ts, v in points)


def overlay_chart(title: str, ylabel: str, series: list[tuple[str, list[tuple[str, float]], str | None]]) -> str:
    """Baseline and candidate on one axis: each series is (label, [(iso time, value)], window end), drawn
    against minutes before its window's end. Lines, a point per minute."""
    rel = [(label, _relative(pts, end)) for label, pts, end in series]
    xs = [x for _, pts in rel for x, _ in pts]
    ys = [y for _, pts in rel for _, y in pts]
    if not xs:
        return ""
    x0, x1 = min(min(xs), -1.0), 0.0
    ymax = max(ys) or 1.0
    parts = [
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<text x="{LEFT}" y="14" font-size="11">{escape(ylabel)}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" font-size="10" text-anchor="end">{round(ymax, 1):g}</text>',
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 14}" font-size="10">{x0:.0f} min</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="end">collection</text>',
    ]
    for i, (_, pts) in enumerate(rel):
        if not pts:
            continue
        coords = [(_x(x, x0, x1), _y(y, ymax)) for x, y in pts]
        color = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if i == 0 else ""
        parts.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}" fill="none" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in coords)
    return _svg(title, parts + _legend([label for label, _ in rel]))


def trend_chart(title: str, ylabel: str, series: dict[str, list[tuple[str, float]]], marks: list[str]) -> str:
    """A KPI over a cluster's bundles: one line per member against collection time; dashed marks at the
    change points."""
    pts = [(_t(ts), v) for s in series.values() for ts, v in s if v is not None]
    if not pts:
        return ""
    t0, t1 = min(t for t, _ in pts), max(t for t, _ in pts)
    if t1 <= t0:
        t1 = t0 + 60
    ymax = max(v for _, v in pts) or 1.0
    parts = _axes(t0, t1, round(ymax, 3), ylabel)
    names = sorted(series)
    for i, name in enumerate(names):
        coords = [(_x(_t(ts), t0, t1), _y(v, ymax)) for ts, v in series[name] if v is not None]
        if not coords:
            continue
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}" fill="none" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in coords)
    for ts in marks:
        x = _x(_t(ts), t0, t1)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#000" stroke-dasharray="3,3">'
            f"<title>change point: {escape(ts)}</title></line>"
        )
    return _svg(title, parts + _legend(names))
