"""Where linked news goes on an event plot: numbered badges per role on the trading-time axis.

Items are numbered chronologically (``news_order``, the report's numbering too); exact items sit at
their minute, ``session``/``day`` items at the start of their segment; items of one role at one spot
merge into one badge ("3–5"); items outside the plotted time go to a gutter that is not to scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .output import shanghai_ts
from .plotstyle import BADGE_PT, MAX_NEWS, ROLE_COLORS, ROLE_ZH, _Style


_SEGMENTS = ((0, "pre"), (9 * 60 + 30, "am"), (13 * 60, "pm"), (15 * 60, "post"))
_SEG_LABEL = {"pre": ("盘前", "pre-open"), "am": ("上午", "AM"), "pm": ("下午", "PM"),
              "post": ("盘后", "after close")}


# --- news placement --------------------------------------------------------------------------------


@dataclass
class _Item:
    n: int
    ts: pd.Timestamp
    precision: str
    role: str
    kind: str
    source: str
    title: str
    x: float = 0.0
    span: tuple[float, float] | None = None
    gutter: bool = False


_PRECISION_ORDER = {"day": 0, "session": 1, "minute": 2, "second": 2}


def news_order(news: Sequence[Mapping] | None) -> list[Mapping]:
    """Linked news in the order plots and reports number them (1, 2, …): by time, day-precision
    before session-precision before exact items at the same stamp, then title. Items without a
    readable ``ts`` come last."""
    rows = [n for n in (news or []) if isinstance(n, Mapping)]

    def key(n):
        t = shanghai_ts(n.get("ts"))
        return (t is None, t.value if t is not None else 0,
                _PRECISION_ORDER.get(str(n.get("ts_precision") or "minute"), 3), str(n.get("title") or ""),
                str(n.get("id") or ""))
    return sorted(rows, key=key)


def _news_items(event: Mapping) -> tuple[list[_Item], int]:
    items = []
    for n in news_order(event.get("news")):
        t = shanghai_ts(n.get("ts"))
        if t is None:
            continue
        items.append(_Item(0, t, str(n.get("ts_precision") or "minute"), str(n.get("role") or ""),
                           str(n.get("kind") or ""), str(n.get("source") or ""), str(n.get("title") or "")))
    extra = max(0, len(items) - MAX_NEWS)
    items = items[:MAX_NEWS]
    for k, it in enumerate(items, 1):
        it.n = k
    return items, extra


def _segment(t: pd.Timestamp) -> str:
    m = t.hour * 60 + t.minute
    seg = "pre"
    for start, name in _SEGMENTS:
        if m >= start:
            seg = name
    return seg


def _place_intraday(items: list[_Item], ibars: pd.DataFrame, step: float) -> tuple[float, float]:
    """x positions on the minute axis; returns the (left, right) gutter extents needed."""
    days = pd.Index(sorted(pd.unique(ibars["day"])))
    first, last = days[0], days[-1]
    xmax = 240.0 * len(days)
    before, after = [], []
    for it in items:
        d = it.ts.tz_localize(None).normalize()
        mins = it.ts.hour * 60 + it.ts.minute + it.ts.second / 60
        if d < first:
            before.append(it)
            continue
        if d > last:
            after.append(it)
            continue
        k = days.get_indexer([d])[0]
        if k < 0:  # a non-trading day between plotted days: meets the next open
            k = int(np.searchsorted(days, d))
            it.x = 240.0 * k
            continue
        base = 240.0 * k
        if it.precision == "day":
            it.x, it.span = base, (base, base + 240)
        elif it.precision == "session":
            seg = _segment(it.ts)
            if seg == "pre":
                it.x = base
            elif seg == "am":
                it.x, it.span = base, (base, base + 120)
            elif seg == "pm":
                it.x, it.span = base + 120, (base + 120, base + 240)
            elif k == len(days) - 1:
                after.append(it)
            else:
                it.x = base + 240
        else:
            if mins < 9 * 60 + 30:
                it.x = base
            elif mins <= 11 * 60 + 30:
                it.x = base + (mins - 9 * 60 - 30)
            elif mins < 13 * 60:
                it.x = base + 120
            elif mins <= 15 * 60:
                it.x = base + 120 + (mins - 13 * 60)
            elif k == len(days) - 1:
                after.append(it)
            else:
                it.x = base + 240
    return _gutters(before, after, 0.0, xmax, unit=max(step, 1.0) * 10.0)


def _gutters(before: list[_Item], after: list[_Item], x0: float, x1: float,
             unit: float) -> tuple[float, float]:
    """Spread out-of-range items evenly in gutters left of x0 / right of x1 (not to scale)."""
    gl = gr = 0.0
    if before:
        gl = unit * (len(before) + 0.6)
        for j, it in enumerate(before):
            it.x, it.gutter = x0 - gl + unit * (j + 0.8), True
    if after:
        gr = unit * (len(after) + 0.6)
        for j, it in enumerate(after):
            it.x, it.gutter = x1 + unit * (j + 0.8), True
            if it.precision in ("day", "session"):
                it.span = None
    return gl, gr


def _place_daily(items: list[_Item], days: pd.DatetimeIndex) -> tuple[float, float]:
    """x positions on the daily ordinal axis (day k at x = k, offset within the day by time)."""
    before, after = [], []
    for it in items:
        d = it.ts.tz_localize(None).normalize()
        if len(days) == 0 or d < days[0]:
            before.append(it)
            continue
        if d > days[-1]:
            after.append(it)
            continue
        k = days.get_indexer([d])[0]
        if k < 0:
            it.x = float(np.searchsorted(days, d)) - 0.5
            continue
        if it.precision == "day":
            it.x, it.span = float(k), (k - 0.42, k + 0.42)
        else:
            frac = (it.ts.hour * 60 + it.ts.minute) / 1440.0
            it.x = k - 0.35 + 0.7 * frac
    return _gutters(before, after, -0.5, len(days) - 0.5, unit=1.3)


ROLE_ORDER = ("precursor", "concurrent", "response", "clarification")


@dataclass
class _Badge:
    """One marker in the news lane: items of one role at one place (one day on the daily axis)."""
    role: str
    x: float
    items: list[_Item]
    span: tuple[float, float] | None
    exact: bool
    label: str
    half_w: float     # half width in x data units
    row: int = 0


def _ranges(nums: list[int]) -> str:
    """[1, 2] → "1,2"; [3, 4, 5] → "3–5"; [3, 6] → "3,6"."""
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{nums[i]}–{nums[j]}")
        else:
            out.extend(str(n) for n in nums[i:j + 1])
        i = j + 1
    return ",".join(out)


def _badges(items: list[_Item], daily: bool, units_per_in: float) -> list[_Badge]:
    groups: dict[tuple, list[_Item]] = {}
    for it in items:
        x = float(round(it.x)) if (daily and not it.gutter) else float(it.x)
        role = it.role if it.role in ROLE_COLORS else ""
        groups.setdefault((ROLE_ORDER.index(role) if role else 9, x, None if daily else it.span, role),
                          []).append(it)
    out = []
    for (_o, x, span, role), its in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        label = _ranges(sorted(i.n for i in its))
        w_in = max(len(label) * 0.6 * BADGE_PT / 72 + 0.09, 0.16)
        out.append(_Badge(role, x, its, span, all(i.precision in ("minute", "second") for i in its),
                          label, w_in / 2 * units_per_in))
    return out


def _pack(badges: list[_Badge]) -> tuple[int, list[tuple[int, int, str]]]:
    """Role swim-lanes; inside a lane, badges that would overlap go to extra sub-rows.

    Returns the total row count and ``(first_row, n_rows, role)`` per lane."""
    rows, lanes = 0, []
    for role in (*ROLE_ORDER, ""):
        bs = sorted((b for b in badges if b.role == role), key=lambda b: (b.x, b.label))
        if not bs:
            continue
        ends: list[float] = []
        for b in bs:
            lo = b.x - b.half_w * 1.15
            hi = max(b.x + b.half_w * 1.15, b.span[1] if b.span else -np.inf)
            for r, e in enumerate(ends):
                if e <= lo:
                    b.row, ends[r] = rows + r, hi
                    break
            else:
                b.row = rows + len(ends)
                ends.append(hi)
        lanes.append((rows, len(ends), role))
        rows += len(ends)
    return max(rows, 1), lanes


def _time_label(it: _Item, day: pd.Timestamp, st: _Style) -> str:
    d = it.ts.tz_localize(None).normalize()
    prefix = "" if d == day else it.ts.strftime("%m-%d") + " "
    if it.precision == "day":
        return prefix.strip() or it.ts.strftime("%m-%d")
    if it.precision == "session":
        zh, en = _SEG_LABEL[_segment(it.ts)]
        return f"{prefix}{st.t(zh, en)}~"
    fmt = "%H:%M:%S" if it.precision == "second" else "%H:%M"
    return prefix + it.ts.strftime(fmt)


def _role_label(role: str, st: _Style) -> str:
    return f"{ROLE_ZH[role]} {role}" if st.cjk and role in ROLE_ZH else (role or "unlabelled")
