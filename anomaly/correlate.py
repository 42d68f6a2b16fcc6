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
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np
import pandas as pd

from .errors import BadInput
from .eventstudy import daily_returns, event_study, window_label
from .linkconfig import INTRADAY_KINDS, KIND_PRIORITY, LinkConfig  # noqa: F401 (part of this API)
# meet_time, meets_market and publish_interval stay importable from here (part of this API)
from .markettime import (CLOSE, OPEN, at, is_trading_day, meet_time, meets_market,  # noqa: F401
                         on_or_before, publish_interval, segment, shift_trading_days, trading_days,
                         trading_lag)
from .news import (char_ngrams, collapse_near_duplicates, company_aliases, entity_relevance, find_cues,
                   is_company_own, known_companies, norm_text, normalise_title)
from .schema import ANOMALY_COLUMNS, NEWS_COLUMNS, TZ, anomalies_frame, validate_news

ROLES = ("precursor", "concurrent", "response", "clarification")
VERDICTS = ("news_linked", "no_public_news", "market_wide", "sector_wide")




# --- formatting helpers --------------------------------------------------------------------------


def _num(x, digits: int = 6):
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    v = round(v, digits)
    return 0.0 if v == 0 else v


def _jsonable(obj, digits: int = 6):
    t = type(obj)                       # exact built-in types first (the bulk of an event), same results
    if t is str or obj is None or t is bool or t is int:
        return obj
    if t is float:
        return _num(obj, digits)
    if t is dict:
        return {k if type(k) is str else str(k): _jsonable(v, digits) for k, v in obj.items()}
    if t is list:
        return [_jsonable(v, digits) for v in obj]
    if isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj, digits)
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else _iso(obj)
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray, pd.Series)):
        return [_jsonable(v, digits) for v in list(obj)]
    if obj is pd.NaT:
        return None
    try:
        if pd.isna(obj):
            return None
    except (TypeError, ValueError):
        pass
    return str(obj)


def _iso(t: pd.Timestamp) -> str:
    """``t.isoformat()``, memoised on (instant, zone, unit): records and items share their times."""
    key = (t.value, t.tz, t.unit)
    got = _ISO.get(key)
    if got is None:
        if len(_ISO) > 100_000:
            _ISO.clear()
        got = _ISO[key] = t.isoformat()
    return got


_ISO: dict = {}


def _pct(x, digits: int = 2, sign: bool = True) -> str:
    s = f"{x * 100:+.{digits}f} %" if sign else f"{abs(x) * 100:.{digits}f} %"
    return s.replace("-", "−")


def _short(title: str, n: int = 24) -> str:
    t = str(title).strip()
    return t if len(t) <= n else t[:n] + "…"


def _hm(t: pd.Timestamp) -> str:
    return t.strftime("%H:%M")


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


# --- news preparation ----------------------------------------------------------------------------


_DAY_NS = 86_400 * 10**9
_H = 3_600 * 10**9


@lru_cache(maxsize=1)
def _days_ns() -> np.ndarray:
    return np.array(trading_days(), dtype="datetime64[D]").astype("datetime64[ns]").astype(np.int64)


def _meet_ns(local: np.ndarray) -> np.ndarray:
    """Vectorised ``meet_time`` on naive local wall-clock nanoseconds (same rules, same calendar)."""
    days = _days_ns()
    day = local // _DAY_NS * _DAY_NS
    tod = local - day
    i = np.searchsorted(days, day, side="left")
    trading = (i < len(days)) & (days[np.minimum(i, len(days) - 1)] == day)
    j = np.searchsorted(days, day, side="right")
    nxt = days[np.minimum(j, len(days) - 1)]
    beyond = day > days[-1]
    if beyond.any():                      # past the calendar: weekdays, as ``is_trading_day``/``next_trading_day``
        wd = (day // _DAY_NS + 3) % 7     # 1970-01-01 was a Thursday
        trading = np.where(beyond, wd < 5, trading)
        step = np.where(wd == 4, 3, np.where(wd == 5, 2, 1))
        nxt = np.where(beyond | (j >= len(days)), day + step * _DAY_NS, nxt)
    o, noon, pm, close = int(9.5 * _H), int(11.5 * _H), 13 * _H, 15 * _H
    same = np.where(tod < o, day + o, np.where(tod < noon, local, np.where(tod < pm, day + pm, local)))
    return np.where(~trading | (tod >= close), nxt + o, same)


def _interval_ns(local: np.ndarray, is_day: np.ndarray, is_session: np.ndarray, meet_hi: bool = False):
    """``publish_interval`` and the earliest meeting time on naive local wall-clock nanoseconds:
    (lo, hi, meet_lo) — and meet_hi when asked."""
    day = local // _DAY_NS * _DAY_NS
    tod = local - day
    bounds = np.array([0, int(9.5 * _H), int(11.5 * _H), 13 * _H, 15 * _H, _DAY_NS], dtype=np.int64)
    seg_end = day + bounds[np.searchsorted(bounds, tod, side="right").clip(max=len(bounds) - 1)]
    lo = np.where(is_day, day, local)
    hi = np.where(is_day, day + _DAY_NS, np.where(is_session, seg_end, local))
    m_lo = _meet_ns(lo)
    if not meet_hi:
        return lo, hi, m_lo
    exact = hi == lo
    return lo, hi, m_lo, np.where(exact, m_lo, _meet_ns(hi - 1000))


def _localize(local: np.ndarray) -> np.ndarray:
    """UTC nanoseconds of naive Shanghai wall-clock nanoseconds (``tz_localize``: raises on a local
    time a clock change skipped, as the straightforward path does)."""
    return pd.DatetimeIndex(np.asarray(local, dtype="datetime64[ns]")).tz_localize(TZ).asi8


def _intervals(ts: pd.Series, precision: pd.Series):
    """``publish_interval`` and ``meets_market`` for a whole column at once (tz-aware Series)."""
    local = ts.dt.tz_convert(TZ).dt.tz_localize(None).astype("datetime64[ns]").to_numpy().astype(np.int64)
    prec = precision.to_numpy().astype(str)
    lo, hi, m_lo, m_hi = _interval_ns(local, prec == "day", prec == "session", meet_hi=True)

    def back(v):
        return pd.Series(pd.to_datetime(v).tz_localize(TZ), index=ts.index)

    return back(lo), back(hi), back(m_lo), back(m_hi)


def _prepare_news(news: pd.DataFrame | None) -> pd.DataFrame:
    if news is None or len(news) == 0:
        return pd.DataFrame(columns=NEWS_COLUMNS + ["pub_lo", "pub_hi", "meet_lo", "meet_hi"])
    need = [c for c in NEWS_COLUMNS if c not in news.columns]
    if need or not isinstance(news["ts"].dtype, pd.DatetimeTZDtype) or news["id"].isna().any():
        news = validate_news(news, origin="news")
    n = news.copy()
    n["symbol"] = pd.Series([None if s is None or (not isinstance(s, str) and pd.isna(s)) or str(s) == ""
                             else str(s) for s in n["symbol"]], index=n.index, dtype=object)
    for c in ("source", "body", "url"):
        n[c] = pd.Series([None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                          for v in n[c]], index=n.index, dtype=object)
    n["source"] = n["source"].map(lambda v: v or "")
    n["ts_precision"] = n["ts_precision"].fillna("minute").astype(str)
    pub_lo, pub_hi, meet_lo, meet_hi = _intervals(n["ts"], n["ts_precision"])
    n["pub_lo"], n["pub_hi"], n["meet_lo"], n["meet_hi"] = pub_lo, pub_hi, meet_lo, meet_hi
    n["_text"] = [norm_text(t) + "\n" + norm_text(b) for t, b in zip(n["title"], n["body"])]
    n["_prec_rank"] = n["ts_precision"].map({"second": 0, "minute": 1, "session": 2, "day": 3}).fillna(4)
    return n.sort_values(["ts", "id"], kind="stable").reset_index(drop=True)


# --- linking one event ---------------------------------------------------------------------------


@dataclass
class _Event:
    symbol: str
    name: str
    industry: str
    day: dt.date
    t0_lo: pd.Timestamp
    t0_hi: pd.Timestamp
    minute: bool
    direction: int


def _window(ev: _Event, cfg: LinkConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = at(shift_trading_days(ev.day, -cfg.precursor_days), OPEN)
    hi = at(shift_trading_days(ev.day, cfg.response_days), CLOSE)
    return lo, hi


def _time_role(pub_lo: pd.Timestamp, pub_hi: pd.Timestamp, exact: bool, ev: _Event) -> str:
    if exact:
        if pub_lo < ev.t0_lo:
            return "precursor"
        return "concurrent" if pub_lo < ev.t0_hi else "response"
    if pub_hi <= ev.t0_lo:
        return "precursor"
    if pub_lo >= ev.t0_hi:
        return "response"
    return "concurrent"


def _pydt(t) -> dt.datetime:
    """A ``datetime`` for a Timestamp (same wall clock, same zone; formatting it is much cheaper)."""
    return t.to_pydatetime(warn=False) if isinstance(t, pd.Timestamp) else t


def _timing_parts(item) -> tuple:
    """The item-only half of ``_timing``: precision, the sentence placing the item in market time, and
    the dates the event-dependent half needs."""
    prec = item["ts_precision"]
    exact = prec in ("second", "minute")
    pub_lo, meet_lo = _pydt(item["pub_lo"]), _pydt(item["meet_lo"])
    d = pub_lo.date()
    if prec == "day":
        when = f"time known only to the day ({d})"
    elif prec == "session":
        seg, rng = segment(pub_lo)
        when = f"published {seg} ({rng}) of {d}"
    else:
        stamp = pub_lo.strftime("%H:%M:%S" if prec == "second" else "%H:%M")
        if not is_trading_day(d):
            phase = "on a non-trading day"
        else:
            phase, _ = segment(pub_lo)
        when = f"published {d} {stamp}, {phase}"
    meets = ""
    if meet_lo != pub_lo and (exact or prec == "session"):
        meets = (f"; meets the market at {_hm(meet_lo)}" if meet_lo.date() == d and meet_lo.time() != OPEN
                 else f"; meets the market at the {meet_lo.date()} {_hm(meet_lo)} open")
    md = meet_lo.date()
    return prec, exact, when, meets, md, is_trading_day(md), d, pub_lo.time() >= CLOSE, on_or_before(d)


def _timing(item, role: str, ev: _Event, cfg: LinkConfig) -> tuple[float, str]:
    """Timing factor in [0, 1] and the sentence that says where the item sits in market time."""
    return _timing_of(_timing_parts(item), role, ev, cfg)


def _timing_of(parts: tuple, role: str, ev: _Event, cfg: LinkConfig) -> tuple[float, str]:
    tw = cfg.timing
    prec, exact, when, meets, md, md_trading, d, at_or_after_close, d_trading = parts
    onset = f"the {_hm(ev.t0_lo)} onset" if ev.minute else "the event day's session"
    if role == "precursor":
        lag = trading_lag(md, ev.day) if md_trading else 0
        t = max(tw["precursor_same_day"] - tw["precursor_per_day"] * lag, 0.0)
        rel = (f"before {onset}" if lag == 0 else f"{lag} trading day{'s' if lag > 1 else ''} before the event day")
        return t, f"{when}{meets}: {rel}"
    if role == "concurrent":
        if exact:
            rel = f"during the move ({_hm(ev.t0_lo)}–{_hm(ev.t0_hi)})" if ev.minute else "during the event day's session"
            return tw["concurrent_exact"], f"{when}: {rel}"
        if prec == "session":
            rel = f"cannot be ordered against {onset}; placed concurrent" if ev.minute else \
                "during the event day's session"
            return tw["concurrent_session"], f"{when}: {rel}"
        return tw["concurrent_day"], f"{when}: cannot be ordered against {onset}; placed concurrent"
    lag = trading_lag(ev.day, d_trading)
    t = max(tw["response_same_day"] - tw["response_per_day"] * max(lag, 0), 0.0)
    if lag <= 0:
        rel = f"after {onset}, same day" if ev.minute else "after the event day's close" if (
            d > ev.day or at_or_after_close) else "after the event day's session"
    else:
        rel = "on the next trading day" if lag == 1 else f"{lag} trading days after the event day"
    return t, f"{when}{meets}: {rel}"


_KIND_LABEL = {"social": "social-media item", "announcement": "company announcement", "qa_reply":
               "互动易 / investor Q&A reply", "broker_note": "broker note", "statement": "statement"}


def _cue_score(kind, trole, rumor_cues, denial, react, clar, rumor, own, rel, timing, cfg) -> tuple[float, list[str]]:
    """A link's score (relevance × weighted base, timing and cue) and the cue reasons behind it;
    shared by the reference scorer and the batched one so both score alike."""
    cw = cfg.cues
    cue = 0.0
    cue_reasons: list[str] = []
    if clar:
        cue = cw["clarification"]
        cue_reasons.append(f"clarification cue {', '.join(denial or react)}")
    elif trole in ("precursor", "concurrent") and rumor:
        cue = cw["rumor_social"] if (kind == "social" and rumor_cues) else cw["rumor"]
        if rumor_cues:
            cue_reasons.append(f"rumor cue {', '.join(rumor_cues)}")
    elif trole == "response":
        if rumor_cues:
            cue = max(cue, cw["rumor_reference"])
            cue_reasons.append(f"refers to the rumor ({', '.join(rumor_cues)})")
        if react:
            cue = max(cue, cw["reaction"])
            cue_reasons.append(f"reaction cue {', '.join(react)}")
    if kind in _KIND_LABEL:
        label = _KIND_LABEL[kind]
        if own and kind == "statement":
            label = "the company's own statement"
        cue_reasons.append(label)
    score = rel * (cfg.base_weight + cfg.timing_weight * timing + cfg.cue_weight * cue)
    return _num(min(max(score, 0.0), 1.0), cfg.digits), cue_reasons


def _score_item(item, ev: _Event, aliases, others, cfg: LinkConfig) -> dict | None:
    rel, reasons, facts = entity_relevance(item["title"], item["body"], item["symbol"], ev.symbol, aliases,
                                           others, cfg.relevance, display=ev.name or ev.symbol)
    if rel <= 0:
        return None
    title_n, body_n = norm_text(item["title"]), norm_text(item["body"])
    kind = item["kind"]
    exact = item["ts_precision"] in ("second", "minute")
    trole = _time_role(item["pub_lo"], item["pub_hi"], exact, ev)
    rumor_cues = find_cues(title_n, cfg.rumor_cues)
    denial = find_cues(title_n, cfg.clarification_cues)
    react = find_cues(title_n, cfg.reaction_cues)
    own = is_company_own(kind, item["source"], item["title"], aliases, facts["filed_under"])
    if own:
        denial = denial or find_cues(body_n, cfg.clarification_cues)
        react = react or find_cues(body_n, cfg.reaction_cues)
    clar = bool(denial) or (own and bool(react))
    role = "clarification" if clar else trole
    rumor = kind == "social" or bool(rumor_cues)
    timing, when = _timing(item, trole, ev, cfg)
    score, cue_reasons = _cue_score(kind, trole, rumor_cues, denial, react, clar, rumor, own, rel, timing, cfg)
    reasons += cue_reasons + [when]
    if item.get("duplicates", 0):
        srcs = [s for s in item["duplicate_sources"] if s]
        reasons.append(f"{item['duplicates']} near-duplicate{'s' if item['duplicates'] > 1 else ''} collapsed"
                       + (f" ({'; '.join(dict.fromkeys(srcs))})" if srcs else ""))
    return {"id": str(item["id"]), "ts": item["ts"].isoformat(), "ts_precision": item["ts_precision"],
            "source": item["source"] or "", "kind": kind, "title": item["title"], "url": item["url"],
            "role": role, "score": score, "reasons": reasons, "meets": item["meet_lo"].isoformat(),
            "duplicates": int(item.get("duplicates", 0)),
            "_rumor": rumor and trole in ("precursor", "concurrent") and not clar, "_own": own,
            "_denial": denial, "_market": facts["market_item"], "_specific": facts["in_title"] or facts["filed_under"],
            "_meet": item["meet_lo"], "_trole": trole}


@lru_cache(maxsize=1024)
def _alias_regex(aliases: tuple[str, ...]) -> str:
    parts = []
    for a in aliases:
        n = re.escape(norm_text(a))
        if a.isdigit():
            parts.append(rf"(?<!\d){n}(?!\d)")
        elif all(ord(ch) < 0x3000 for ch in a):
            parts.append(rf"(?<![a-z0-9]){n}(?![a-z0-9])")
        else:
            parts.append(n)
    return "|".join(parts) if parts else r"(?!x)x"


def _link(ev: _Event, news: pd.DataFrame, cfg: LinkConfig, others) -> tuple[list[dict], tuple]:
    w_lo, w_hi = _window(ev, cfg)
    if news.empty:
        return [], (w_lo, w_hi)
    inwin = news[(news["meet_lo"] >= w_lo) & (news["meet_lo"] <= w_hi)]
    if inwin.empty:
        return [], (w_lo, w_hi)
    aliases = company_aliases(ev.symbol, ev.name, cfg.aliases)
    # Cheap pre-selection, so a window holding the whole market's news stays fast: items filed under
    # the symbol or naming it are scored in full; of the market-wide items that do not name it only
    # the ones closest to t₀ can make the max_market_links cut.
    names_us = inwin["_text"].str.contains(_alias_regex(aliases), regex=True)
    filed = inwin["symbol"] == ev.symbol
    market = inwin["symbol"].isna() & ~names_us
    specific = inwin[filed | names_us]
    near = inwin[market]
    if len(near) > 4 * cfg.max_market_links:
        dist = (near["meet_lo"] - ev.t0_lo).abs()
        near = near.assign(_dist=dist).sort_values(["_dist", "ts", "id"], kind="stable").head(
            4 * cfg.max_market_links).drop(columns="_dist")
    cand = pd.concat([specific, near]) if len(near) else specific
    if cand.empty:
        return [], (w_lo, w_hi)
    cand = collapse_near_duplicates(cand, cfg.duplicate_threshold, cfg.ngram,
                                    order=["pub_lo", "_prec_rank", "id"])
    links = []
    for _, item in cand.iterrows():
        link = _score_item(item, ev, aliases, others, cfg)
        if link is not None and link["score"] is not None and link["score"] >= cfg.min_link_score:
            links.append(link)
    links.sort(key=lambda l: (-l["score"], 0 if l["_rumor"] else 1, l["_meet"], l["ts"], l["id"]))
    out, n_market = [], 0
    for l in links:
        if l["_market"]:
            if n_market >= cfg.max_market_links:
                continue
            n_market += 1
        out.append(l)
        if len(out) >= cfg.max_links:
            break
    return out, (w_lo, w_hi)


# --- linking all events at once (the indexed path) ------------------------------------------------


class _Batch:
    """What linking many events against one ``NewsIndex`` shares: lexicons normalised once, the
    known-company names indexed by first character, per-item facts, the assessment of a market-wide
    item per onset (the same for every company that it does not name), and title similarities."""

    def __init__(self, cfg: LinkConfig, others):
        self.cfg = cfg
        self.others = others
        self.cues = tuple(tuple(norm_text(c) for c in lex) for lex in
                          (cfg.rumor_cues, cfg.clarification_cues, cfg.reaction_cues))
        lits = sorted({c for lex in self.cues for c in lex})
        # any normalised cue at all (an empty cue is in every text)
        self.any_cue = None if "" in lits else re.compile("|".join(re.escape(c) for c in lits) or "(?!x)x")
        self.other_lits = [norm_text(n) for n, _ in others]
        self.other_always = [i for i, lit in enumerate(self.other_lits) if not lit]
        self.other_first: dict[str, list[int]] = {}
        for i, lit in enumerate(self.other_lits):
            if lit:
                self.other_first.setdefault(lit[0], []).append(i)
        self.market: dict = {}
        self.market_rel: dict = {}
        self.body_cues: dict = {}
        self.grams: dict = {}
        self.similar: dict = {}
        self.meets: dict = {}
        self.parts: dict = {}
        self.no_other: set = set()

    def features(self, it) -> tuple:
        """Item-only facts ``_score_item`` derives: title cues, timing parts, ts text, id text."""
        x = it.x
        if x is None:
            cfg, tn = self.cfg, it.title_n
            if self.any_cue is None or self.any_cue.search(tn):
                cues = (_cues(tn, cfg.rumor_cues, self.cues[0]), _cues(tn, cfg.clarification_cues, self.cues[1]),
                        _cues(tn, cfg.reaction_cues, self.cues[2]))
            else:
                cues = ([], [], [])
            tk = (it.ts_precision, it.pub_lo_ns, it.meet_ns)     # all ``_timing_parts`` depends on
            parts = self.parts.get(tk)
            if parts is None:
                parts = self.parts[tk] = _timing_parts(it)
            x = it.x = (*cues, parts, it.ts_iso, str(it.id))
        return x

    def screen_titles(self, items) -> None:
        """Mark the items whose title holds no known company name at all (one RE2 pass), so that
        ``narrowed_others`` has nothing to look for in them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from .newsindex import _re2_literal

        lits = sorted({lit for lit in self.other_lits if lit})
        items = [it for it in items if it.pos not in self.no_other]
        if not lits or not items or self.other_always:
            return
        hit = pc.match_substring_regex(pa.array([it.title_n for it in items], type=pa.large_string()),
                                       "|".join(_re2_literal(x) for x in lits)).to_pylist()
        for it, h in zip(items, hit):
            if not h:
                self.no_other.add(it.pos)

    def narrowed_others(self, it) -> tuple:
        """The known companies whose normalised name occurs in the title: ``entity_relevance``
        finds no other name there, so it answers the same with these as with all of them."""
        if it.pos in self.no_other:
            return ()
        t = it.title_n
        idx = list(self.other_always)
        lits = self.other_lits
        for ch in set(t):
            for i in self.other_first.get(ch, ()):
                if lits[i] in t:
                    idx.append(i)
        idx.sort()
        return tuple(self.others[i] for i in idx)

    def body(self, it, which: int) -> list[str]:
        k = (it.pos, which)
        got = self.body_cues.get(k)
        if got is None:
            lex = self.cfg.clarification_cues if which == 1 else self.cfg.reaction_cues
            got = self.body_cues[k] = _cues(it.body_n, lex, self.cues[which])
        return got

    def is_similar(self, a, b) -> bool:
        """``collapse_near_duplicates``' test: both titles have n-grams and Jaccard ≥ threshold."""
        k = (a.pos, b.pos) if a.pos < b.pos else (b.pos, a.pos)
        got = self.similar.get(k)
        if got is None:
            ga, la = self.gram(a)
            gb, lb = self.gram(b)
            if not la or not lb:
                got = False
            elif (la / lb if la < lb else lb / la) < self.cfg.duplicate_threshold:
                got = False             # Jaccard ≤ min/max: cannot reach the threshold
            else:
                inter = len(ga & gb)
                got = inter / (la + lb - inter) >= self.cfg.duplicate_threshold
            self.similar[k] = got
        return got

    def any_similar(self, its: list, grams: list, union: frozenset) -> bool:
        """Whether any of ``its`` passes the near-duplicate test with any of ``grams`` (whose union
        is ``union``: sharing fewer than the threshold's share of an item's grams with all of them
        together rules it out, as Jaccard ≤ |shared| / |own grams|)."""
        thr = self.cfg.duplicate_threshold
        for it in its:
            ga, la = self.gram(it)
            if not la or len(ga & union) / la < thr:
                continue
            for gb, lb in grams:
                if lb and (la / lb if la < lb else lb / la) >= thr:
                    inter = len(ga & gb)
                    if inter / (la + lb - inter) >= thr:
                        return True
        return False

    def gram(self, it) -> tuple:
        g = self.grams.get(it.pos)
        if g is None:
            grams = char_ngrams(normalise_title(it.title), self.cfg.ngram)
            g = self.grams[it.pos] = (grams, len(grams))
        return g

    def meets_text(self, it) -> str:
        """``meet_lo.isoformat()`` (the datetime's own when no nanoseconds are lost: same text)."""
        got = self.meets.get(it.pos)
        if got is None:
            got = self.meets[it.pos] = it.meet_lo.isoformat() if it.meet_ns % 1000 == 0 else \
                pd.Timestamp(it.meet_ns, tz=TZ).isoformat()
        return got


def _cues(text: str, cues: tuple[str, ...], normalised: tuple[str, ...]) -> list[str]:
    """``news.find_cues``: its answer depends on the text only through which normalised cues occur
    in it, so it is computed once per such set (and is empty when none does)."""
    present = tuple(c for c in normalised if c in text)
    if not present:
        return []
    key = (cues, present)
    got = _CUES.get(key)
    if got is None:
        if len(_CUES) > 10_000:
            _CUES.clear()
        got = _CUES[key] = find_cues(text, cues)
    return list(got)


_CUES: dict = {}


def _role_ns(lo: int, hi: int, exact: bool, t0_lo: int, t0_hi: int) -> str:
    """``_time_role`` on nanoseconds."""
    if exact:
        if lo < t0_lo:
            return "precursor"
        return "concurrent" if lo < t0_hi else "response"
    if hi <= t0_lo:
        return "precursor"
    if lo >= t0_hi:
        return "response"
    return "concurrent"


@lru_cache(maxsize=8192)
def _alias_re(aliases: tuple[str, ...]) -> re.Pattern:
    return re.compile(_alias_regex(aliases))


def _assess(it, f: tuple, ev: _Event, rel: float, filed: bool, aliases, batch: _Batch) -> tuple:
    """``_score_item`` after relevance: (score, rumor, role, time role, own, denial, cue reasons, timing
    sentence). ``f``: the item's ``_Batch.features``."""
    cfg = batch.cfg
    rumor_cues, denial, react, parts = f[0], f[1], f[2], f[3]
    kind = it.kind
    trole = _role_ns(it.pub_lo_ns, it.pub_hi_ns, parts[1], ev.t0_lo.value, ev.t0_hi.value)
    own = is_company_own(kind, it.source, it.title, aliases, filed)
    if own:
        denial = denial or batch.body(it, 1)
        react = react or batch.body(it, 2)
    clar = bool(denial) or (own and bool(react))
    role = "clarification" if clar else trole
    rumor = kind == "social" or bool(rumor_cues)
    timing, when = _timing_of(parts, trole, ev, cfg)
    score, cue_reasons = _cue_score(kind, trole, rumor_cues, denial, react, clar, rumor, own, rel, timing, cfg)
    return (score, rumor and trole in ("precursor", "concurrent") and not clar, role, trole, own, denial,
            cue_reasons, when)


def _visit_key(it) -> tuple:
    return it.pub_lo_ns, it.prec_rank, it.id


def _collapse(its: list, batch: _Batch) -> tuple[list, list, list]:
    """``news.collapse_near_duplicates`` over items (order ``pub_lo, precision rank, id``, stable):
    (kept items in visiting order, their (duplicate ids, duplicate sources) or None, and every
    item's grams in visiting order)."""
    if len(its) > 1:
        its = sorted(its, key=_visit_key)
    kept: list = []
    dups: list = []
    for it in its:
        hit = None
        for k, kt in enumerate(kept):
            if batch.is_similar(it, kt):
                hit = k
                break
        if hit is None:
            kept.append(it)
            dups.append(None)
        else:
            if dups[hit] is None:
                dups[hit] = ([], [])
            dups[hit][0].append(str(it.id))
            dups[hit][1].append(str(it.source or ""))
    grams = [batch.gram(it) for it in its]
    return kept, dups, grams, frozenset().union(*(g for g, _ in grams))


def _entries(kept: list, dups: list, ev: _Event, ctx: tuple, aliases, lits, display: str, market_rel: tuple,
             batch: _Batch) -> list:
    """The scored kept items of one event as (sort key, item, assessment, relevance reasons, facts,
    duplicates), in kept order; ``None`` reasons/facts: a market-wide item that does not name the
    company (its reasons are the company's ``market_rel``)."""
    cfg = batch.cfg
    pre = []
    for it, dup in zip(kept, dups):
        f = it.x or batch.features(it)
        if it.symbol is None and it.kind != "statement" and not any(
                l in it.title_n or l in it.body_n for l in lits):
            # a market-wide item that does not name the company (``entity_relevance`` returns before
            # looking at anything else): the same assessment for every company
            if market_rel[0] <= 0:
                continue
            key = (it.pos, ctx)
            a = batch.market.get(key)
            if a is None:
                a = batch.market[key] = _assess(it, f, ev, market_rel[0], False, aliases, batch)
            reasons0 = facts = None
        else:
            r = entity_relevance(it.title, it.body, it.symbol, ev.symbol, aliases, batch.narrowed_others(it),
                                 cfg.relevance, display=display)
            if r[0] <= 0:
                continue
            reasons0, facts = r[1], r[2]
            a = _assess(it, f, ev, r[0], facts["filed_under"], aliases, batch)
        score = a[0]
        if score is None or score < cfg.min_link_score:
            continue
        pre.append(((-score, 0 if a[1] else 1, it.meet_ns, f[4], f[5]), it, a, reasons0, facts, dup))
    return pre


def _select_indexed(evs: list[_Event], index, cfg: LinkConfig, during=None) -> tuple[dict, list, dict]:
    """The candidates ``_link`` scores, for every event at once: (window per event day, per event
    ``(specific, near)`` positions or None when its window holds no item, aliases per symbol).
    ``specific``: the items
    filed under the symbol or naming it, in prepared order; ``near``: the market-wide items that do
    not name it (the ``4 × max_market_links`` nearest t₀ when there are more). ``during(positions)``
    runs while the name scan is in flight, with the filed and nearest market items."""
    windows: dict = {}
    for ev in evs:
        if ev.day not in windows:
            windows[ev.day] = _window(ev, cfg)
    aliases_of: dict = {}
    for ev in evs:
        if ev.symbol not in aliases_of:
            aliases_of[ev.symbol] = company_aliases(ev.symbol, ev.name, cfg.aliases)
    if index.n == 0:
        return windows, [None] * len(evs), aliases_of
    pos_win = {d: index.window(w[0].value, w[1].value) for d, w in windows.items()}
    mkt_win = {d: index.market_range(*w) for d, w in pos_win.items()}
    by_day: dict = {}
    for ev in evs:
        i0, i1 = pos_win[ev.day]
        if i1 > i0:
            by_day.setdefault(ev.day, set()).add(ev.symbol)
    scan = index.scan_names({d: pos_win[d] for d in by_day}, {d: sorted(v) for d, v in by_day.items()}, aliases_of)
    try:
        return _select_with(scan, evs, index, cfg, windows, pos_win, mkt_win, aliases_of, during)
    finally:
        scan.close()


def _select_with(scan, evs, index, cfg, windows, pos_win, mkt_win, aliases_of, during) -> tuple[dict, list, dict]:
    k_near = 4 * cfg.max_market_links
    rank = index.rank
    is_market = index.is_market
    ranked_cache: dict = {}
    # while the name scan runs (RE2 in a worker thread): what does not depend on it
    filed = index.filed_many([ev.symbol for ev in evs], [pos_win[ev.day] for ev in evs])
    early = []
    for ev, f in zip(evs, filed):
        if f is None:
            continue
        i0, i1 = pos_win[ev.day]
        early.append(f)
        j0, j1 = mkt_win[ev.day]
        if j1 - j0 > k_near:
            key = (j0, j1, ev.t0_lo.value, k_near)
            if key not in ranked_cache:
                ranked_cache[key] = index.nearest_market(j0, j1, ev.t0_lo.value, k_near)[:k_near].tolist()
            early.append(ranked_cache[key])
        else:
            early.append(index.market_pos[j0:j1])
    if during is not None and early:
        during(np.concatenate([np.asarray(e, dtype=np.int64) for e in early]))
    named = scan.result(lambda s, text: _alias_re(aliases_of[s]).search(text) is not None)
    named = {k: v.tolist() for k, v in named.items()}
    cands: list = []
    for ev, f in zip(evs, filed):
        if f is None:
            cands.append(None)
            continue
        mine = named.get((ev.symbol, ev.day), ())
        spec = f.tolist()
        if mine:
            spec = sorted(set(spec).union(mine))
        if len(spec) > 1:
            r = rank[spec].tolist()
            spec = [p for _, p in sorted(zip(r, spec))]
        mine_mkt = [p for p in mine if is_market[p]]
        j0, j1 = mkt_win[ev.day]
        if (j1 - j0) - len(mine_mkt) > k_near:
            need = k_near + len(mine_mkt)
            key = (j0, j1, ev.t0_lo.value, need)
            ranked = ranked_cache.get(key)
            if ranked is None:
                ranked = ranked_cache[key] = index.nearest_market(j0, j1, ev.t0_lo.value, need)[:need].tolist()
            if mine_mkt:
                skip = set(mine_mkt)
                near = [p for p in ranked if p not in skip][:k_near]
            else:
                near = ranked[:k_near]
        else:
            mpos = index.market_pos[j0:j1].tolist()
            if mine_mkt:
                skip = set(mine_mkt)
                mpos = [p for p in mpos if p not in skip]
            near = [p for _, p in sorted(zip(rank[mpos].tolist(), mpos))] if len(mpos) > 1 else mpos
        cands.append((spec, near) if spec or near else None)
    return windows, cands, aliases_of


def _link_indexed(evs: list[_Event], index, cfg: LinkConfig, others) -> list[tuple[list[dict], tuple]]:
    """``_link`` for every event at once against a ``newsindex.NewsIndex``: the same candidates,
    links, scores, reasons and order, computed with shared work (see the module docs of
    ``newsindex``). Market-wide items that do not name the company are assessed once per item and
    onset; only the links that make the cut are turned into dicts."""
    batch = _Batch(cfg, others)

    def during(positions) -> None:           # overlaps the name scan
        index.materialise(positions)
        for it in index.items():
            batch.features(it)
            batch.gram(it)

    windows, cands, aliases_of = _select_indexed(evs, index, cfg, during)
    near_collapse: dict = {}
    near_pre_of: dict = {}
    lits_of: dict = {}
    every = [p for c in cands if c for part in c for p in part]
    if every:
        index.materialise(every)
        batch.screen_titles(index.items())
    item = index.item
    out = []
    for ev, cand in zip(evs, cands):
        window = windows[ev.day]
        if not cand:
            out.append(([], window))
            continue
        spec_pos, near_pos = cand
        aliases = aliases_of[ev.symbol]
        lits = lits_of.get(ev.symbol)
        if lits is None:
            lits = lits_of[ev.symbol] = tuple(norm_text(a) for a in aliases)
        display = ev.name or ev.symbol
        ctx = (ev.day, ev.minute, ev.t0_lo.value, ev.t0_hi.value)
        # near-duplicate collapse in the straightforward order (pub_lo, precision rank, id; stable):
        # the market items' own collapse is shared by every event with the same ones; when no
        # specific item is a near-duplicate of one of them, the two groups collapse independently
        spec_its = [item(p) for p in spec_pos]
        near_key = tuple(near_pos)
        ncol = near_collapse.get(near_key)
        if ncol is None:
            ncol = near_collapse[near_key] = _collapse([item(p) for p in near_key], batch)
        mk = (ev.symbol, aliases, display)
        market_rel = batch.market_rel.get(mk)
        if market_rel is None:
            # what ``entity_relevance`` says of a market-wide item that does not name the company
            market_rel = batch.market_rel[mk] = entity_relevance("", "", None, ev.symbol, aliases, (),
                                                                 cfg.relevance, display=display)
        if spec_its and near_key and batch.any_similar(spec_its, ncol[2], ncol[3]):
            kept, dups = _collapse(spec_its + [item(p) for p in near_key], batch)[:2]
            pre = _entries(kept, dups, ev, ctx, aliases, lits, display, market_rel, batch)
            pre.sort(key=lambda x: x[0])
        else:
            ks, ds = _collapse(spec_its, batch)[:2] if spec_its else ([], [])
            near_pre = None
            if ncol[0]:
                ck = (near_key, ctx)
                cached = near_pre_of.get(ck)
                if cached is None:
                    its = ncol[0]
                    plain = all(it.symbol is None and it.kind != "statement" for it in its)
                    joined = "\x00".join(it.title_n + "\x01" + it.body_n for it in its)
                    cached = near_pre_of[ck] = (plain, joined, None)
                plain, joined, entries = cached
                if plain and market_rel[0] > 0 and not any(l in joined or "\x00" in l or "\x01" in l for l in lits):
                    # none of them names the company: each is the same market item for every company
                    if entries is None:
                        entries = _entries(ncol[0], ncol[1], ev, ctx, aliases, lits, display, market_rel, batch)
                        entries.sort(key=lambda x: x[0])
                        near_pre_of[ck] = (plain, joined, entries)
                    near_pre = entries
            if near_pre is not None:
                pre = _entries(ks, ds, ev, ctx, aliases, lits, display, market_rel, batch)
                if pre:
                    keys = {x[0] for x in near_pre}
                    if any(x[0] in keys for x in pre):      # a full tie: keep the kept order exactly
                        near_pre = None
                    else:
                        pre = sorted(pre + near_pre, key=lambda x: x[0])
                else:
                    pre = near_pre
            if near_pre is None:
                if ncol[0] and ks:
                    both = sorted(zip(ks + ncol[0], ds + ncol[1]), key=lambda kd: _visit_key(kd[0]))
                    kept, dups = [k for k, _ in both], [d for _, d in both]
                elif ks:
                    kept, dups = ks, ds
                else:
                    kept, dups = ncol[0], ncol[1]
                pre = _entries(kept, dups, ev, ctx, aliases, lits, display, market_rel, batch)
                if len(pre) > 1:
                    pre.sort(key=lambda x: x[0])
        links, n_market = [], 0
        for _, it, a, reasons0, facts, dup in pre:
            if reasons0 is None:
                reasons0, facts = market_rel[1], market_rel[2]
            market = facts["market_item"]
            if market:
                if n_market >= cfg.max_market_links:
                    continue
                n_market += 1
            score, rumor, role, trole, own, denial, cue_reasons, when = a
            reasons = list(reasons0) + cue_reasons + [when]
            n_dup = 0
            if dup is not None:
                n_dup = len(dup[0])
                srcs = [s for s in dup[1] if s]
                reasons.append(f"{n_dup} near-duplicate{'s' if n_dup > 1 else ''} collapsed"
                               + (f" ({'; '.join(dict.fromkeys(srcs))})" if srcs else ""))
            f = it.x
            title, kind = it.title, it.kind
            public = {"id": f[5], "ts": f[4], "ts_precision": it.ts_precision, "source": it.source or "",
                      "kind": kind, "title": title, "url": it.url, "role": role, "score": score,
                      "reasons": reasons, "meets": batch.meets_text(it), "duplicates": n_dup}
            links.append({"score": score, "title": title, "kind": kind, "role": role, "_rumor": rumor,
                          "_own": own, "_denial": denial, "_market": market,
                          "_specific": facts["in_title"] or facts["filed_under"], "_trole": trole,
                          "_public": public,
                          # already what ``_jsonable`` makes of it when the raw cells are strings
                          "_json": type(title) is str and type(kind) is str})
            if len(links) >= cfg.max_links:
                break
        out.append((links, window))
    return out


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
        s = f"fell to {_pct(low)} below the previous close intraday"
        if closed:
            s += f" and {closed}" + (f" ({_pct(off)} off the low)" if off is not None else "")
        return s
    if kind == "range_spike":
        high = det.get("high_vs_prev_close", mag)
        off = det.get("giveback_off_high")
        if off is None and bar:
            off = bar["close"] / bar["high"] - 1
        s = f"rose to {_pct(high)} above the previous close intraday"
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
        verb = "fell" if (mag or 0) < 0 else "rose"
        s = f"{verb} {_pct(mag or 0, sign=False)} in {mins} min from {_hm(start)} ({kind})"
        return s + (f"; {closed}" if closed else "")
    ref = prim.get("reference") or ""
    s = f"{kind.replace('_', ' ')} {_pct(mag) if mag is not None else ''}".rstrip()
    s += f" vs {ref}" if ref else ""
    return s + (f"; {closed}" if closed else "")


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
