"""Turning frames and records into JSON-able values (ISO timestamps with zone, no NaN)."""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Mapping

import numpy as np
import pandas as pd


def jsonable(v):
    """A JSON-friendly copy of a scalar/dict/list: ISO-8601 timestamps, None for NaN, floats rounded."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return None
        return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 10)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NaT or v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def finite_or_none(v) -> float | None:
    """``float(v)`` when it is a finite number, else None (for text built from loose dicts)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def shanghai_ts(v) -> pd.Timestamp | None:
    """A timestamp in Asia/Shanghai (naive values are taken as Shanghai time), or None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        t = pd.Timestamp(v)
    except (ValueError, TypeError):
        return None
    if t is pd.NaT:
        return None
    return t.tz_localize("Asia/Shanghai") if t.tzinfo is None else t.tz_convert("Asia/Shanghai")


def frame_records(df: pd.DataFrame) -> list[dict]:
    """Rows of a frame as JSON-able dicts, in column order."""
    cols = list(df.columns)
    return [{c: jsonable(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]


def p_text(p: float | None) -> str:
    """A p-value for people: "—" when absent, "<1e-6" below the stored precision (never "0"),
    scientific below 0.001, else three decimals."""
    if p is None:
        return "—"
    if p < 1e-6:
        return "<1e-6"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


_SEGMENT_SPANS = ((0, "~00:00–09:30"), (9 * 60 + 30, "~09:30–11:30"), (13 * 60, "~13:00–15:00"),
                  (15 * 60, "~15:00–24:00"))


def news_time(n: Mapping) -> str:
    """When a news item appeared, as precisely as it is known: to the second or minute, a session
    span ("2023-05-24 ~13:00–15:00") or only the day ("2023-05-24 (day)")."""
    t = shanghai_ts(n.get("ts"))
    if t is None:
        return str(n.get("ts") or "") or "—"
    prec = str(n.get("ts_precision") or "minute")
    if prec == "day":
        return f"{t:%Y-%m-%d} (day)"
    if prec == "session":
        m = t.hour * 60 + t.minute
        span = _SEGMENT_SPANS[0][1]
        for start, label in _SEGMENT_SPANS:
            if m >= start:
                span = label
        return f"{t:%Y-%m-%d} {span}"
    return t.strftime("%Y-%m-%d %H:%M:%S" if prec == "second" else "%Y-%m-%d %H:%M")




_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text) -> str:
    """Untrusted text made inert on a terminal: control, escape and bidi-override characters become
    a visible placeholder, so a news title cannot move the cursor, recolour or reorder the screen."""
    return _UNSAFE.sub("\ufffd", str(text))


def event_text(event: dict, max_news: int = 12) -> str:
    """An event as a few readable lines for a terminal (untrusted text made inert)."""
    return terminal_safe(_event_text(event, max_news))


def _event_text(event: dict, max_news: int) -> str:
    lines = [event.get("explanation") or event.get("id", "")]
    lines.append(f"  verdict: {event.get('verdict')}   severity: {_num(event.get('severity'))}")
    for a in event.get("anomalies") or []:
        p = a.get("p_value")
        lines.append(f"  · {a.get('kind'):<18} {_pct(a.get('magnitude'))} vs {a.get('reference')}"
                     f"  score {_num(a.get('score'))}" + (f"  p {_num(p, 3)}" if p is not None else ""))
    es = event.get("event_study") or {}
    for w in es.get("windows") or []:
        lines.append(f"  CAR{w.get('window')}: {_pct(w.get('car'))}  t {_num(w.get('t'))}  p {_num(w.get('p'), 3)}"
                     f"  (vs {es.get('benchmark')})")
    news = event.get("news") or []
    if news:
        lines.append("  news:")
    for n in news[:max_news]:
        ts = news_time(n)
        lines.append(f"   {n.get('score', 0):.2f} {n.get('role')!s:<13} {ts} "
                     f"[{n.get('kind')}] {n.get('title')}")
    if len(news) > max_news:
        lines.append(f"   … {len(news) - max_news} more")
    return "\n".join(lines)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * float(v):+.2f} %"


def _num(v, digits: int = 2) -> str:
    return "—" if v is None else f"{float(v):.{digits}f}"
