"""Linking one event: where each news item falls in market time, its role and a score with reasons.

The rules (windows, roles, the score formula, verdicts) are written out in ``anomaly.correlate``'s
module docstring. This module holds the per-item pieces both linkers use — news preparation (market
time of every item as int64 nanoseconds), timing and cue scores, ``_score_item`` — and ``_link``,
the straightforward per-event linker that ``anomaly.linkbatch`` is checked against.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np
import pandas as pd

from .linkconfig import LinkConfig
from .markettime import (CLOSE, OPEN, at, is_trading_day, on_or_before, segment, shift_trading_days,
                         trading_days, trading_lag)
from .news import (collapse_near_duplicates, company_aliases, entity_relevance, find_cues, is_company_own,
                   norm_text)
from .schema import NEWS_COLUMNS, TZ, validate_news


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


def _candidates(ev: _Event, news: pd.DataFrame, cfg: LinkConfig) -> pd.DataFrame:
    """The items of the event's window worth scoring (prepared news rows).

    A cheap pre-selection, so a window holding the whole market's news stays fast: items filed under
    the symbol or naming it are scored in full; of the market-wide items that do not name it only the
    ones closest to t₀ can make the ``max_market_links`` cut.
    """
    w_lo, w_hi = _window(ev, cfg)
    inwin = news[(news["meet_lo"] >= w_lo) & (news["meet_lo"] <= w_hi)] if len(news) else news
    if inwin.empty:
        return inwin
    aliases = company_aliases(ev.symbol, ev.name, cfg.aliases)
    names_us = inwin["_text"].str.contains(_alias_regex(aliases), regex=True)
    filed = inwin["symbol"] == ev.symbol
    market = inwin["symbol"].isna() & ~names_us
    specific = inwin[filed | names_us]
    near = inwin[market]
    if len(near) > 4 * cfg.max_market_links:
        dist = (near["meet_lo"] - ev.t0_lo).abs()
        near = near.assign(_dist=dist).sort_values(["_dist", "ts", "id"], kind="stable").head(
            4 * cfg.max_market_links).drop(columns="_dist")
    return pd.concat([specific, near]) if len(near) else specific


def _link(ev: _Event, news: pd.DataFrame, cfg: LinkConfig, others) -> tuple[list[dict], tuple]:
    w_lo, w_hi = _window(ev, cfg)
    cand = _candidates(ev, news, cfg)
    if cand.empty:
        return [], (w_lo, w_hi)
    aliases = company_aliases(ev.symbol, ev.name, cfg.aliases)
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
