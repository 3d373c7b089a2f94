"""The overview's charts, drawn server-side as inline SVG: no JavaScript, nothing fetched, readable without colour
(every bar has a text label or a tooltip, and the page offers each chart as a table too)."""
from __future__ import annotations

import math
from datetime import date

from markupsafe import Markup, escape

# Okabe-Ito, told apart by people with colour-blindness; yellow left out (too pale on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#117733")
OTHER = "#9A9A9A"
DECISION_COLOURS = {
    "blocked": "#B2182B", "overridden": "#D55E00", "warned": "#E69F00", "cancelled": "#009E73",
    "sanitised": "#0072B2", "allowed": "#4D9221", "recorded": "#56B4E9", "inspection_error": "#7F7F7F",
    "purged": "#BBBBBB",
}
MAX_SERIES = len(PALETTE)  # more rules than colours: the smallest share one "other" colour
WIDTH, HALF_WIDTH = 760, 440


def rule_colours(per_day) -> dict[str, str]:
    """A colour per rule, the busiest first; rules beyond the palette are grey ("other")."""
    totals: dict[str, int] = {}
    for _, rule, n in per_day:
        totals[rule] = totals.get(rule, 0) + n
    ranked = sorted(totals, key=lambda r: (-totals[r], r))
    return {rule: PALETTE[i] if i < MAX_SERIES else OTHER for i, rule in enumerate(ranked)}


def ticks(top: int, n: int = 4) -> tuple[int, int]:
    """A round step and the axis maximum (a multiple of it) for counts up to `top`."""
    raw = max(top, 1) / n
    step = 1
    if raw > 1:
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return int(step), int(math.ceil(max(top, 1) / step) * step)


def _day_label(d: date) -> str:
    return f"{d.day} {d.strftime('%b')}"


def stacked_days(per_day, days: list[date], colours: dict[str, str], chart_id: str, title: str,
                 label=str) -> Markup:
    """Events per day, a bar per day stacked by rule (`label(rule)`: its name in the tooltips)."""
    height, left, right, top_m, bottom = 250, 44, 8, 14, 34
    plot_w, plot_h = WIDTH - left - right, height - top_m - bottom
    counts: dict[str, dict[str, int]] = {}
    for day, rule, n in per_day:
        counts.setdefault(str(day), {})[rule] = counts.get(str(day), {}).get(rule, 0) + n
    biggest = max((sum(v.values()) for v in counts.values()), default=0)
    step, ymax = ticks(biggest)
    slot = plot_w / len(days)
    bar_w = max(2.0, slot * 0.7)
    total = sum(sum(v.values()) for v in counts.values())
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-t '
           f'{chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="{chart_id}-t">{escape(title)}</title>',
           f'<desc id="{chart_id}-d">{total} findings over {len(days)} days, from {days[0]} to {days[-1]}; '
           f'the busiest day had {biggest}.</desc>']
    for v in range(0, ymax + 1, step):
        y = top_m + plot_h - v / ymax * plot_h
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
    order = list(colours)
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = top_m + plot_h
        day_counts = counts.get(d.isoformat(), {})
        for rule in sorted(day_counts, key=order.index):
            n = day_counts[rule]
            h = n / ymax * plot_h
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{colours[rule]}"><title>{_day_label(d)}: {escape(label(rule))} {n}</title></rect>')
        if i % 5 == 0 or i == len(days) - 1:
            last = i == len(days) - 1  # the newest day's label ends at the plot's edge instead of running off it
            out.append(f'<text class="axis" x="{x + bar_w if last else left + i * slot + slot / 2:.1f}" '
                       f'y="{height - bottom + 18}" text-anchor="{"end" if last else "middle"}">'
                       f'{_day_label(d)}</text>')
    out.append(f'<line class="baseline" x1="{left}" y1="{top_m + plot_h}" x2="{WIDTH - right}" '
               f'y2="{top_m + plot_h}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(items, chart_id: str, title: str, colour=None, label=str) -> Markup:
    """Horizontal bars, one per (key, count): `label(key)` on the left, the count at the bar's end, the bar in
    `colour(key)` (or one colour). Drawn half as wide as the day chart: it sits in a half-width column."""
    width, row, bar_h, label_w, value_w, pad = HALF_WIDTH, 28, 18, 172, 44, 4
    items = [(key, label(key), n) for key, n in items]
    height = pad * 2 + row * len(items)
    scale_w = width - label_w - value_w
    biggest = max((n for *_, n in items), default=1) or 1
    total = sum(n for *_, n in items)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}-t '
           f'{chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="{chart_id}-t">{escape(title)}</title>',
           f'<desc id="{chart_id}-d">' + escape("; ".join(f"{text}: {n}" for _, text, n in items)) + "</desc>"]
    for i, (key, text, n) in enumerate(items):
        y = pad + i * row
        w = max(1.0, n / biggest * scale_w)
        fill = colour(key) if callable(colour) else (colour or PALETTE[0])
        short = text if len(text) <= 21 else text[:20] + "…"
        share = f" ({n / total:.0%})" if total else ""
        out.append(f'<text class="label" x="{label_w - 8}" y="{y + bar_h / 2 + 4.5:.1f}" text-anchor="end">'
                   f'{escape(short)}<title>{escape(text)}</title></text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{fill}">'
                   f'<title>{escape(text)}: {n}{share}</title></rect>')
        out.append(f'<text class="value" x="{label_w + w + 5:.1f}" y="{y + bar_h / 2 + 4.5:.1f}">{n}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def decision_colour(decision: str) -> str:
    return DECISION_COLOURS.get(decision, OTHER)


def swatch(colour: str) -> Markup:
    """A legend's colour square."""
    return Markup(f'<svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
                  f'rx="2" fill="{escape(colour)}"/></svg>')


POST_WINDOW_S = 5.0  # the findings of one post are stored together (Store.post_events' window)
POSTS_CAP = 2000  # the most events read to count posts (bench/dashboard_bench.py: about 0.4 s per 1,000 on 2 busy
#                   cores); past it the tiles count findings, and say so. A Store.count_posts in SQL would lift this.


def post_counts(rows, cap: int = POSTS_CAP) -> dict | None:
    """Posts, not events: a post with two findings is one post. `rows` newest first (Store.iter_all); the events
    of one post share person, laptop, destination, path, school and origin within POST_WINDOW_S. Returns
    {"posts": n, "by_decision": {decision: posts with an event of that decision}}, or None past `cap` events."""
    last: dict[tuple, tuple[float, int]] = {}  # post key -> (time of its oldest event so far, post number)
    decisions: dict[int, set[str]] = {}
    n = 0
    for i, row in enumerate(rows):
        if i >= cap:
            return None
        if row.get("purged") or row.get("decision") == "purged":
            continue
        key = tuple(row.get(c) for c in ("user", "device", "host", "path", "school", "origin"))
        t = row["_time"].timestamp()
        seen = last.get(key)
        if seen is None or seen[0] - t > POST_WINDOW_S:
            n += 1
            seen = (t, n)
        last[key] = (t, seen[1])
        decisions.setdefault(seen[1], set()).add(row["decision"])
    by_decision: dict[str, int] = {}
    for ds in decisions.values():
        for d in ds:
            by_decision[d] = by_decision.get(d, 0) + 1
    return {"posts": n, "by_decision": by_decision}
