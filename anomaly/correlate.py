"""The correlator: anomaly records × timestamped news → events (one per symbol × trading day).

``link_events`` groups anomaly records into events, places every news item of the window in market
time, scores how well it explains the move, runs the event study and writes a verdict and a one-line
explanation. Everything is deterministic: the same inputs give byte-identical JSON.

Onset t₀
    Intraday records (``cliff``/``spike``/``jump``, or any record whose start is not a day boundary)
    give a minute onset: t₀ = [start, end + ``concurrent_minutes``] of the earliest one. Otherwise
    the onset is the event day's session, t₀ = [09:30, 15:00), ``onset_precision = "day"``.

Market time (``meets_market``)
    When an item can first have moved the price: during a session at once; in the lunch break
    (11:30–13:00) at 13:00; before 09:30 at that day's open; at/after 15:00 or on a non-trading day
    at the next trading day's 09:30 open. ``session`` precision covers its segment (pre-open
    00:00–09:30, morning 09:30–11:30, afternoon 13:00–15:00, after close 15:00–24:00) and ``day``
    precision the calendar day, so they meet the market over an interval.

Window
    An item is considered when the earliest moment it can have met the market lies between the open
    of the ``precursor_days``-th trading day before the event day (default 2) and the close of the
    ``response_days``-th trading day after (default 1). On 2023-05-24: [05-22 09:30, 05-25 15:00];
    the 05-26 day-precision item meets the market on 05-26 and is not linked.

Roles (by the item's publication interval P against t₀)
    ``precursor``: P ends before t₀ starts; ``concurrent``: P overlaps t₀ (a ``day``/``session`` item
    that cannot be ordered against t₀ lands here with the reason "time known only to …");
    ``response``: P starts at/after t₀ ends; ``clarification`` replaces the timing role when the title
    carries a denial cue (澄清, 辟谣, 不实, 谣言, 造谣, 否认, 虚假 …) or the item is the company's own
    (announcement, 互动易 reply, or a statement from/led by the company) with any denial or reaction cue
    (回应, 旧闻, 维权 …). Reasons always state the timing as well.

Score (0..1) = relevance × (``base_weight`` + ``timing_weight``·timing + ``cue_weight``·cue)
    relevance — ``news.entity_relevance`` (code/short name/alias in title 0.6, body only 0.3, filed
    under the symbol +0.3; passing mentions, titles led by another company, other symbols scaled down
    (a co-subject named alongside, like 科大讯飞、美亚柏科, is not); market-wide items
    that do not name the company 0.1). timing — concurrent 1.0 (exact) / 0.95 (session) / 0.8 (day);
    precursor 0.95 on the event day, −0.2 per trading day earlier; response 0.9 on the event day,
    −0.2 per trading day later. cue — rumor before/at t₀: 1.0 when a social item carries a rumor cue,
    0.8 for either alone; clarification 0.7; a response that refers to the rumor or reacts 0.3.
    Rumors before/at the move therefore outrank clarifications, which outrank plain coverage: the
    first explain the move, the second explain its recovery, the last only repeat it. Links are
    ranked by score, precursor/concurrent rumors first on ties, then by time and id.
    Near-duplicate titles (character 3-gram Jaccard ≥ 0.8) collapse into the earliest item, which
    records ``duplicates``.

Verdict
    ``market_wide`` / ``sector_wide`` when the cross-section table has a row for the event day with
    scope ``market`` (or the event's industry, scope ``industry``/``sector``) whose ``share`` reaches
    ``market_wide_share`` / ``sector_wide_share`` (or whose ``flag`` column is true) and whose
    ``direction`` (if given) matches the move — unless a company-specific link (names the company in
    the title or is filed under it) scores ≥ ``strong_news_threshold``: then ``news_linked`` and the
    explanation mentions the market move. Otherwise ``news_linked`` when the best link scores
    ≥ ``linked_threshold``, else ``no_public_news`` ("no public news found in [window]").

Severity (ranks events in reports)
    max |score| over the event's records (each record's z or test statistic; missing → 0) plus
    ``severity_kind_bonus`` (0.5) for each further distinct kind that corroborates it.

Recovery (event-level)
    Share of the day's intraday excursion retraced by the close, from the event day's bar: for a
    fall ``(close − low) / (prev_close − low)``, for a rise ``(high − close) / (high − prev_close)``;
    0 = closed at the extreme, 1 = back at the previous close. 2023-05-24: (56.57 − 53.50) /
    (59.09 − 53.50) = 0.549. The event study adds the share of day 0's *abnormal* return reversed
    over the following days (``event_study.recovery.fraction``).
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import math
from contextlib import contextmanager
from typing import Mapping

import numpy as np
import pandas as pd

from .errors import BadInput
from .eventstudy import daily_returns, event_study, window_label
from .linkbatch import _link_indexed
from .linkconfig import INTRADAY_KINDS, KIND_PRIORITY, LinkConfig  # noqa: F401 (part of this API)
from .linkscore import _KIND_LABEL, _Event, _hm, _iso, _jsonable, _link, _num, _pct, _prepare_news, _short
# meet_time, meets_market and publish_interval stay importable from here (part of this API)
from .markettime import CLOSE, OPEN, at, meet_time, meets_market, publish_interval  # noqa: F401
from .news import known_companies
from .schema import ANOMALY_COLUMNS, TZ, anomalies_frame

ROLES = ("precursor", "concurrent", "response", "clarification")
VERDICTS = ("news_linked", "no_public_news", "market_wide", "sector_wide")




# --- anomaly records -----------------------------------------------------------------------------


def _records(anomalies) -> pd.DataFrame:
    if anomalies is None:
        return anomalies_frame([])
    if not isinstance(anomalies, pd.DataFrame):
        anomalies = anomalies_frame(list(anomalies))
    missing = [c for c in ("symbol", "kind", "start") if c not in anomalies.columns]
    if missing:
        raise BadInput(f"anomaly records lack column(s) {', '.join(missing)} (need {', '.join(ANOMALY_COLUMNS)})")
    df = anomalies.copy()
    for c in ANOMALY_COLUMNS:
        if c not in df.columns:
            df[c] = None
    for c in ("start", "end"):
        df[c] = pd.to_datetime(df[c])
        if df[c].dt.tz is None:
            df[c] = df[c].dt.tz_localize(TZ)
        df[c] = df[c].dt.tz_convert(TZ)
    df["end"] = df["end"].fillna(df["start"])
    df["details"] = df["details"].map(_details)
    df["symbol"] = df["symbol"].astype(str)
    return df


def _details(d) -> dict:
    if isinstance(d, dict):
        return d
    if isinstance(d, str) and d.strip().startswith("{"):
        try:
            v = json.loads(d)
            return v if isinstance(v, dict) else {}
        except json.JSONDecodeError:
            return {}
    return {}


def _record_json(r, digits: int) -> dict:
    return {"symbol": r["symbol"], "kind": r["kind"], "start": _jsonable(r["start"]), "end": _jsonable(r["end"]),
            "magnitude": _num(r["magnitude"], digits), "reference": None if r["reference"] is None or (
                isinstance(r["reference"], float) and np.isnan(r["reference"])) else str(r["reference"]),
            "score": _num(r["score"], digits), "p_value": _num(r["p_value"], digits),
            "details": _jsonable(r["details"], digits)}


def _is_intraday(r, cfg: LinkConfig) -> bool:
    if r["kind"] in cfg.intraday_kinds:
        return True
    f = r["details"].get("freq") if isinstance(r["details"], dict) else None
    if isinstance(f, str) and f.endswith("min"):
        return True
    t = r["start"].time()
    return t not in (dt.time(0, 0), OPEN, CLOSE, dt.time(9, 25), dt.time(9, 15)) and (
        r["end"] - r["start"]) < pd.Timedelta(hours=6)


def _abs_score(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return abs(f) if math.isfinite(f) else 0.0


# --- cross-section -------------------------------------------------------------------------------


def _marked_cross(details) -> tuple[str | None, dict | None]:
    """The cross-section mark the detection stage put on the event's records (their ``details``;
    direction- and measure-aware, see ``detect.cross_section.mark_cross_section``): market beats sector."""
    marks = [d["cross_section"] for d in details if isinstance(d, dict) and isinstance(d.get("cross_section"), dict)]
    for scope in ("market", "sector"):
        hit = next((m for m in marks if m.get("scope") == scope), None)
        if hit is not None:
            return scope, {scope: {**{k: _jsonable(v) for k, v in hit.items()}, "moved_together": True}}
    return None, None


def _cross(cs: pd.DataFrame | None, ev: _Event, cfg: LinkConfig, dates: pd.Series | None = None
           ) -> tuple[str | None, dict | None]:
    if cs is None or len(cs) == 0 or "date" not in cs.columns:
        return None, None
    d = dates if dates is not None else pd.to_datetime(cs["date"].astype(str).str[:10], errors="coerce").dt.date
    rows = cs[d == ev.day]
    if rows.empty:
        return None, None
    found: dict[str, dict] = {}
    for _, r in rows.iterrows():
        scope = str(r.get("scope", "")).lower()
        if scope in ("sector", "industry"):
            if not ev.industry or str(r.get("industry", "")) != ev.industry:
                continue
            key, thr = "sector", cfg.sector_wide_share
        elif scope == "market":
            key, thr = "market", cfg.market_wide_share
        else:
            continue
        if "flag" in r.index and r["flag"] is not None and not (isinstance(r["flag"], float) and np.isnan(r["flag"])):
            hit = bool(r["flag"])
        else:
            share = _num(r.get("share"))
            hit = share is not None and abs(share) >= thr
        direction = r.get("direction", r.get("sign")) if ("direction" in r.index or "sign" in r.index) else None
        if direction is not None and not (isinstance(direction, float) and np.isnan(direction)) and ev.direction:
            dsign = {"up": 1, "down": -1, "rise": 1, "fall": -1}.get(str(direction).lower())
            if dsign is None:
                try:
                    dsign = int(np.sign(float(direction)))
                except (TypeError, ValueError):
                    dsign = 0
            if dsign and dsign != ev.direction:
                hit = False
        info = {k: _jsonable(v) for k, v in r.items()}
        info["moved_together"] = hit
        found.setdefault(key, info)
    if not found:
        return None, None
    scope = "market" if found.get("market", {}).get("moved_together") else \
        "sector" if found.get("sector", {}).get("moved_together") else None
    return scope, found


# --- explanation ---------------------------------------------------------------------------------


def _move_text(prim: dict, bar: dict | None) -> str:
    kind, det = prim["kind"], prim.get("details") or {}
    mag = prim.get("magnitude")
    close_ret = det.get("close_return")
    if close_ret is None and bar and bar.get("prev_close"):
        close_ret = bar["close"] / bar["prev_close"] - 1
    closed = f"closed {_pct(close_ret)}" if close_ret is not None else ""
    if kind == "range_crash":
        low = det.get("low_vs_prev_close", mag)
        off = det.get("recovery_off_low")
        if off is None and bar:
            off = bar["close"] / bar["low"] - 1
        s = f"fell as far as {_pct(abs(low), sign=False)} below the previous close intraday"
        if closed:
            s += f" and {closed}" + (f" ({_pct(off)} off the low)" if off is not None else "")
        return s
    if kind == "range_spike":
        high = det.get("high_vs_prev_close", mag)
        off = det.get("giveback_off_high")
        if off is None and bar:
            off = bar["close"] / bar["high"] - 1
        s = f"rose as far as {_pct(abs(high), sign=False)} above the previous close intraday"
        if closed:
            s += f" and {closed}" + (f" ({_pct(off)} off the high)" if off is not None else "")
        return s
    if kind.startswith("limit_"):
        what = {"limit_down_close": "closed at the limit-down price", "limit_up_close": "closed at the limit-up price",
                "limit_down_touch": "touched the limit-down price", "limit_up_touch": "touched the limit-up price"}
        s = what.get(kind, kind.replace("_", " "))
        return s + (f"; {closed}" if closed and "closed at" not in s else "")
    if kind in INTRADAY_KINDS:
        start = pd.Timestamp(prim["start"])
        mins = int(round((pd.Timestamp(prim["end"]) - start).total_seconds() / 60))
        if mins == 0:     # onset and trough in one bar: the move took (at most) that bar
            mins = {"5min": 5}.get(str((prim.get("details") or {}).get("freq")), 1)
        verb = "fell" if (mag or 0) < 0 else "rose"
        move = _num((prim.get("details") or {}).get("depth_vs_pre_move"))
        if move is not None and mag is not None and abs(move - mag) > 0.0005:
            # the move itself, then where it left the price against the previous close
            where = "below" if mag < 0 else "above"
            s = (f"{verb} {_pct(move, sign=False)} in {mins} min from {_hm(start)} ({kind}), to "
                 f"{_pct(abs(mag), sign=False)} {where} the previous close")
        else:
            s = f"{verb} {_pct(mag or 0, sign=False)} in {mins} min from {_hm(start)} ({kind})"
        return s + (f"; {closed}" if closed else "")
    ref = prim.get("reference") or ""
    if ref == "index" and mag is not None:    # a deviation: the stock's return minus the index's
        idx = (prim.get("details") or {}).get("index")
        idx = idx[-1] if isinstance(idx, list) and idx else idx
        side = "above" if mag >= 0 else "below"
        return (f"{_DEVIATION_LABEL.get(kind, kind.replace('_', ' '))} {_pct(abs(mag), sign=False)} {side} the index"
                f"{f' ({idx})' if idx else ''}" + (f"; {closed}" if closed else ""))
    s = f"{kind.replace('_', ' ')} {_pct(mag) if mag is not None else ''}".rstrip()
    s += f" vs {ref}" if ref else ""
    return s + (f"; {closed}" if closed else "")


_DEVIATION_LABEL = {"deviation_1d_lhb": "1-day deviation (龙虎榜 screen)",
                    "abnormal_3d": "cumulative deviation (异常波动)",
                    "serious_10d": "10-day cumulative deviation (严重异常波动)",
                    "serious_30d": "30-day cumulative deviation (严重异常波动)"}


def _news_text(links: list[dict], verdict: str, window: tuple, cfg: LinkConfig) -> str:
    if verdict == "no_public_news" or not links or links[0]["score"] < cfg.linked_threshold:
        w = f"[{window[0].strftime('%Y-%m-%d %H:%M')} – {window[1].strftime('%Y-%m-%d %H:%M')}]"
        weak = f" ({len(links)} weak link{'s' if len(links) > 1 else ''} below {cfg.linked_threshold})" if links else ""
        return f"no public news found in {w}{weak}"
    parts = []
    rumors = [l for l in links if l["_rumor"]]
    if rumors:
        r = rumors[0]
        more = f" (+{len(rumors) - 1} more)" if len(rumors) > 1 else ""
        lead = "preceded by rumors" if r["_trole"] == "precursor" else "rumors the same day"
        parts.append(f"{lead} 「{_short(r['title'])}」{more}")
    clar = [l for l in links if l["role"] == "clarification"]
    own = [l for l in clar if l["_own"]]
    if own:
        cues = list(dict.fromkeys(c for l in own for c in l["_denial"]))
        parts.append(f"company called it false ({', '.join(cues)})" if cues else
                     f"company responded ({_KIND_LABEL.get(own[0]['kind'], own[0]['kind'])})")
    elif clar:
        who = {"broker_note": "brokers", "news": "media", "social": "social media"}.get(clar[0]["kind"], "others")
        cues = clar[0]["_denial"]
        parts.append(f"{who} called it false ({', '.join(cues)})" if cues else f"rebuttal 「{_short(clar[0]['title'])}」")
    if not parts:
        top = links[0]
        parts.append(f"{top['role']} news 「{_short(top['title'])}」")
    return "; ".join(parts)


# --- the public entry ----------------------------------------------------------------------------


def _bar_of(bars_by_symbol: dict, symbol: str, day: dt.date) -> dict | None:
    b = bars_by_symbol.get(symbol)
    if b is None or b.empty:
        return None
    rows = b[b["_date"] == day]
    if rows.empty:
        return None
    r = rows.iloc[-1]
    prev = r.get("prev_close")
    return {"open": float(r["open"]), "high": float(r["high"]), "low": float(r["low"]), "close": float(r["close"]),
            "prev_close": float(prev) if prev is not None and np.isfinite(prev) else None}


def _recovery(bar: dict | None, direction: int) -> float | None:
    if not bar or not bar.get("prev_close"):
        return None
    pc, hi, lo, c = bar["prev_close"], bar["high"], bar["low"], bar["close"]
    if direction < 0 and pc > lo:
        return (c - lo) / (pc - lo)
    if direction > 0 and hi > pc:
        return (hi - c) / (hi - pc)
    return None


def _benchmark(sym: str, exchange: str, board: str, available: set, cfg: LinkConfig,
               explicit: Mapping[str, str] | None) -> str | None:
    from .rules import resolve_benchmark

    pick = (explicit or {}).get(sym) or cfg.benchmarks.get(sym)
    if pick and pick in available:
        return pick
    overrides = {k: v for k, v in cfg.benchmarks.items() if "." in k and not k[0].isdigit()}
    if pick:
        overrides[f"{exchange}.{board}"] = pick
    return resolve_benchmark(exchange, board, available, overrides)


def _info_base(sym: str) -> dict:
    from .symbols import resolve

    try:
        s = resolve(sym)
        return {"name": s.name, "industry": s.industry, "exchange": s.exchange, "board": s.board}
    except BadInput:
        return {"name": "", "industry": "", "exchange": "SZ", "board": "main"}


def _info(sym: str, meta: pd.DataFrame | None) -> dict:
    info = _info_base(sym)
    if meta is not None and len(meta) and sym in meta.index:
        row = meta.loc[sym]
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        for k in info:
            v = row.get(k) if hasattr(row, "get") else None
            if isinstance(v, str) and v:
                info[k] = v
    return info


def _infos(symbols: list[str], meta: pd.DataFrame | None) -> dict[str, dict]:
    """``_info`` for many symbols: the meta table is read column-wise once."""
    if meta is None or not len(meta) or isinstance(meta.index, pd.MultiIndex) or meta.columns.duplicated().any():
        return {s: _info(s, meta) for s in symbols}
    first = meta[~meta.index.duplicated(keep="first")]
    present = [s for s in symbols if s in meta.index]
    cols = {k: dict(zip(present, first[k].reindex(present).tolist()))
            for k in ("name", "industry", "exchange", "board") if k in first.columns}
    out = {}
    for s in symbols:
        info = _info_base(s)
        for k, vals in cols.items():
            v = vals.get(s)
            if isinstance(v, str) and v:
                info[k] = v
        out[s] = info
    return out


def _record_groups(recs: pd.DataFrame) -> list[tuple[str, dt.date, list[dict]]]:
    """``recs.groupby(["symbol", "_day"], sort=True)`` as (symbol, day, rows): each row a dict of the
    values ``iterrows`` gives, the rows of a group in ``sort_values(["start", "kind"], kind="stable")``
    order."""
    cols = list(recs.columns)
    vals = recs.to_numpy(dtype=object)
    groups: dict = {}
    for i, (s, d) in enumerate(zip(recs["symbol"].tolist(), recs["_day"].tolist())):
        if d is None or d is pd.NaT or (isinstance(d, float) and np.isnan(d)):
            continue
        groups.setdefault((s, d), []).append(i)
    out = []
    for key in sorted(groups):
        rows = [dict(zip(cols, vals[i])) for i in groups[key]]
        if all(isinstance(r["kind"], str) for r in rows):
            rows.sort(key=lambda r: (r["start"].value, r["kind"]))
        else:
            g = pd.DataFrame(rows)
            rows = [rows[i] for i in g.sort_values(["start", "kind"], kind="stable").index]
        out.append((key[0], key[1], rows))
    return out


def link_events(anomalies: pd.DataFrame, news: pd.DataFrame | None, bars: pd.DataFrame | None,
                index_bars: pd.DataFrame | None = None, meta: pd.DataFrame | None = None,
                cross_section: pd.DataFrame | None = None, config: LinkConfig | None = None,
                benchmark: Mapping[str, str] | None = None) -> list[dict]:
    """Anomaly records + news + daily bars → one JSON-able event dict per symbol × trading day.

    ``anomalies``: canonical anomaly records (any number of symbols and days); they are grouped by
    symbol and the local date of ``end`` (the day a multi-day rule triggers). ``news``: canonical
    news (any symbols; market-wide rows have no symbol). ``bars``: canonical *daily* bars of the
    stocks (≥ ~260 trading days before the event for the full estimation window, and the days after
    it for the [0,5] window); ``index_bars``: the benchmarks' daily bars (``None``: looked up in
    ``bars``). ``meta``: symbol-indexed ``name, board, exchange, industry`` (else ``symbols.resolve``).
    ``cross_section``: the day/industry co-movement table (``date, scope, share, n, industry``
    [, ``direction``, ``flag``]). ``benchmark``: symbol → index id (else the board rule).

    Returns events sorted by (date, symbol) in the shape of docs/architecture.md, plus
    ``news_window`` (the linking window) and ``notes`` (what could not be computed and why).

    The news is prepared once into a ``newsindex.NewsIndex`` and all events are linked in one batch
    (see that module); the result is identical to linking each event on its own against the whole
    frame (``_link``), which ``tests/test_correlate_fast.py`` checks.
    """
    with _gc_paused():
        return _link_events(anomalies, news, bars, index_bars, meta, cross_section, config, benchmark)


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while linking: a batch allocates hundreds of thousands of
    small containers (items, links, reasons) and no reference cycles, and each collection the
    allocations would trigger scans every tracked object of the process (the caller's news frame
    and events included) — 2–3 s of 7 at 10,000 × 1,000,000. Reference counting still frees
    everything at once; the collector's previous state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _link_events(anomalies, news, bars, index_bars=None, meta=None, cross_section=None, config=None,
                 benchmark=None, *, reference: bool = False, prepared: pd.DataFrame | None = None) -> list[dict]:
    """``link_events``; ``reference=True`` links every event on its own with ``_prepare_news`` (or
    the given ``prepared`` frame of ``news``) + ``_link``: the straightforward path the indexed one
    is checked against."""
    from .newsindex import NewsIndex

    cfg = config or LinkConfig()
    recs = _records(anomalies)
    if recs.empty:
        return []
    recs["_day"] = recs["end"].dt.date
    if reference:
        prepared = _prepare_news(news) if prepared is None else prepared
    else:
        prepared = NewsIndex(news)
    others = known_companies(cfg.aliases)
    bars_by = {}
    bench_returns: dict[str, pd.DataFrame] = {}  # one return series per benchmark, shared by all events
    for frame in (bars, index_bars):
        if frame is not None and len(frame):
            f = frame.copy()
            f["symbol"] = f["symbol"].astype(str)
            f["_date"] = f["ts"].dt.tz_convert(TZ).dt.date
            for s, g in f.groupby("symbol", sort=True):
                bars_by.setdefault(s, g.sort_values("ts"))
    avail_idx = set(index_bars["symbol"].astype(str).unique()) if index_bars is not None and len(index_bars) \
        else {s for s in bars_by if "." in s}
    prio = {k: i for i, k in enumerate(cfg.kind_priority)}
    groups = _record_groups(recs)
    infos = _infos(sorted({g[0] for g in groups}), meta)
    staged = []
    for sym, day, rows in groups:
        info = infos[sym]
        order = sorted(range(len(rows)), key=lambda i: (
            prio.get(rows[i]["kind"], len(prio)), -_abs_score(rows[i]["score"]), i))
        prim = rows[order[0]]
        intraday = [r for r in rows if _is_intraday(r, cfg)]
        if intraday:
            first = intraday[0]
            t0_lo = first["start"]
            t0_hi = max(first["end"], first["start"]) + pd.Timedelta(minutes=cfg.concurrent_minutes)
            minute = True
        else:
            t0_lo, t0_hi, minute = at(day, OPEN), at(day, CLOSE), False
        mag = _num(prim["magnitude"])
        bar = _bar_of(bars_by, sym, day)
        if mag:
            direction = int(np.sign(mag))
        elif bar and bar["prev_close"] and bar["close"] != bar["prev_close"]:
            direction = 1 if bar["close"] > bar["prev_close"] else -1
        else:
            direction = -1 if any(w in prim["kind"] for w in ("down", "crash", "cliff")) else 1
        ev = _Event(sym, info["name"], info["industry"], day, t0_lo, t0_hi, minute, direction)
        staged.append((ev, rows, prim, bar, info))
    evs = [s[0] for s in staged]
    if reference:
        linked = [_link(ev, prepared, cfg, others) for ev in evs]
    else:
        linked = _link_indexed(evs, prepared, cfg, others)
    bench_of: dict = {}
    cross_of: dict = {}
    cs_dates = None
    if cross_section is not None and len(cross_section) and "date" in cross_section.columns:
        cs_dates = pd.to_datetime(cross_section["date"].astype(str).str[:10], errors="coerce").dt.date
    events = []
    for (ev, rows, prim, bar, info), (links, window) in zip(staged, linked):
        sym, day, direction = ev.symbol, ev.day, ev.direction
        notes: list[str] = []

        es = None
        bk = (sym, info["exchange"], info["board"])
        if bk not in bench_of:
            bench_of[bk] = _benchmark(sym, info["exchange"], info["board"], avail_idx, cfg, benchmark)
        bench = bench_of[bk]
        if bench is None:
            notes.append("event study skipped: no benchmark index bars available")
        else:
            try:
                empty = pd.DataFrame(columns=["symbol", "ts", "close", "prev_close"])
                if bench not in bench_returns:
                    bench_returns[bench] = daily_returns(bars_by.get(bench, empty), bench)
                es = event_study(sym, day, bars_by.get(sym, empty), bars_by.get(bench, empty), bench,
                                 benchmark_returns=bench_returns[bench], windows=cfg.windows,
                                 est=cfg.estimation, min_est=cfg.min_estimation_days)
                for w in es["windows"]:
                    if not w["complete"]:
                        notes.append(f"window {w['window']}: {w['n_days']} of {w['n_days_expected']} days available")
            except BadInput as exc:
                notes.append(f"event study skipped: {exc}")

        scope, cs_info = _marked_cross([r["details"] for r in rows])
        if scope is None:
            ck = (day, ev.industry, direction)
            if ck not in cross_of:
                cross_of[ck] = _cross(cross_section, ev, cfg, cs_dates)
            scope, cs_info = cross_of[ck]
        best = links[0]["score"] if links else 0.0
        strong_specific = any(l["_specific"] and l["score"] >= cfg.strong_news_threshold for l in links)
        if scope and not strong_specific:
            verdict = "market_wide" if scope == "market" else "sector_wide"
        elif best >= cfg.linked_threshold:
            verdict = "news_linked"
        else:
            verdict = "no_public_news"

        recovery = _recovery(bar, direction)
        kinds = list(dict.fromkeys(r["kind"] for r in rows))
        severity = max(_abs_score(r["score"]) for r in rows) + cfg.severity_kind_bonus * (len(kinds) - 1)

        prim_json = _record_json(prim, cfg.digits)
        parts = [_move_text(prim_json, bar)]
        if es:
            w0 = next((w for w in es["windows"] if w["window"] == window_label((0, 0))), None)
            if w0 and w0["car"] is not None:
                bname = es.get("benchmark_name") or es["benchmark"]
                tval = f"{w0['t']:.1f}".replace("-", "−") if w0["t"] is not None else "n/a"
                parts.append(f"AR {_pct(w0['car'], 1)} vs {bname} (t {tval})")
        parts.append(_news_text(links, verdict, window, cfg))
        if scope:
            c = cs_info[scope]
            share = _num(c.get("share"))
            n = c.get("n")
            where = "the market" if scope == "market" else f"its industry ({ev.industry})"
            moved = f"{where} moved together that day" + (
                f" ({_pct(share, 0, sign=False)} of {n} stocks)" if share is not None and n is not None else "")
            parts.append(moved if verdict != "news_linked" else f"note: {moved}")
        label = f"{info['name']} ({sym})" if info["name"] else sym
        explanation = f"{label} {day}: " + "; ".join(p for p in parts if p) + "."

        if all(l.get("_json") for l in links):       # the indexed path's links, already canonical
            public_links = [l["_public"] for l in links]
        else:
            public_links = _jsonable([l["_public"] if "_public" in l else
                                      {k: v for k, v in l.items() if not k.startswith("_")} for l in links],
                                     cfg.digits)
        # the event in ``_jsonable``'s form: record JSON is canonical when the cells are strings
        # (``_record_json``), strings and the window are canonical by construction, the rest is
        # converted
        digits = cfg.digits
        anomalies_json = [_record_json(r, digits) for r in rows]
        if not all(type(r["kind"]) is str for r in rows):
            anomalies_json = _jsonable(anomalies_json, digits)
        events.append({
            "id": f"{sym}@{day}", "symbol": sym, "name": info["name"], "date": str(day),
            "onset": _iso(ev.t0_lo), "onset_precision": "minute" if ev.minute else "day",
            "anomaly": prim_json if type(prim["kind"]) is str else _jsonable(prim_json, digits),
            "anomalies": anomalies_json, "news": public_links, "verdict": verdict,
            "cross_section": _jsonable(cs_info, digits), "event_study": _jsonable(es, digits),
            "recovery": _jsonable(recovery, digits), "severity": _jsonable(severity, digits),
            "explanation": explanation,
            "news_window": {"start": _iso(window[0]), "end": _iso(window[1])}, "notes": notes,
        })
    events.sort(key=lambda e: (e["date"], e["symbol"]))
    return events


def events_json(events: list[dict]) -> str:
    """Canonical JSON text of events (UTF-8 names kept, keys in insertion order)."""
    return json.dumps(events, ensure_ascii=False, indent=1, allow_nan=False)


__all__ = ["LinkConfig", "link_events", "meets_market", "meet_time", "publish_interval", "events_json",
           "KIND_PRIORITY", "INTRADAY_KINDS", "ROLES", "VERDICTS"]
