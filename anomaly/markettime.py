"""Market time: when a news item can first have moved the price, on the SSE/SZSE trading calendar.

An item published during a session meets the market at once; in the lunch break (11:30–13:00) at
13:00; before 09:30 at that day's open; at/after 15:00 or on a non-trading day at the next trading
day's 09:30 open. Items whose time is known only to the session or the day meet it over an interval
(``meets_market``). Session times come from ``rules.BAR_SESSIONS`` (continuous trading, the closing
call included); trading days from ``anomaly.calendar`` (exchange_calendars XSHG).
"""
from __future__ import annotations

import bisect
import datetime as dt
from functools import lru_cache

import pandas as pd

from . import calendar
from .rules import BAR_SESSIONS
from .schema import TZ

(OPEN, NOON), (PM_OPEN, CLOSE) = BAR_SESSIONS
SEGMENTS = ((dt.time(0, 0), "before the open", "00:00–09:30"), (OPEN, "in the morning session", "09:30–11:30"),
            (NOON, "in the lunch break", "11:30–13:00"), (PM_OPEN, "in the afternoon session", "13:00–15:00"),
            (CLOSE, "after the close", "15:00–24:00"))


@lru_cache(maxsize=1)
def trading_days() -> tuple[dt.date, ...]:
    return tuple(d.date() for d in calendar.trading_days("2005-01-04", "2100-12-31"))


def is_trading_day(d: dt.date) -> bool:
    days = trading_days()
    i = bisect.bisect_left(days, d)
    if days and d > days[-1]:
        return d.weekday() < 5
    return i < len(days) and days[i] == d


def next_trading_day(d: dt.date) -> dt.date:
    """The first trading day strictly after ``d``."""
    days = trading_days()
    i = bisect.bisect_right(days, d)
    if i < len(days):
        return days[i]
    n = d + dt.timedelta(days=1)
    while n.weekday() >= 5:
        n += dt.timedelta(days=1)
    return n


def shift_trading_days(d: dt.date, n: int) -> dt.date:
    """The trading day ``n`` trading days from trading day ``d`` (n may be negative)."""
    days = trading_days()
    i = bisect.bisect_left(days, d)
    j = min(max(i + n, 0), len(days) - 1)
    return days[j]


def on_or_before(d: dt.date) -> dt.date:
    days = trading_days()
    i = bisect.bisect_right(days, d)
    return days[i - 1] if i else d


def trading_lag(a: dt.date, b: dt.date) -> int:
    """Trading days from ``a`` to ``b`` (both trading days)."""
    days = trading_days()
    return bisect.bisect_left(days, b) - bisect.bisect_left(days, a)


@lru_cache(maxsize=8192)
def at(d: dt.date, t: dt.time) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.combine(d, t)).tz_localize(TZ)


def local(ts) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize(TZ) if t.tzinfo is None else t.tz_convert(TZ)


def meet_time(ts) -> pd.Timestamp:
    """The moment an item published at exact time ``ts`` first meets continuous trading."""
    t = local(ts)
    d, tod = t.date(), t.time()
    if is_trading_day(d):
        if tod < OPEN:
            return at(d, OPEN)
        if tod < NOON:
            return t
        if tod < PM_OPEN:
            return at(d, PM_OPEN)
        if tod < CLOSE:
            return t
    return at(next_trading_day(d), OPEN)


def publish_interval(ts, precision: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[lo, hi] of when an item may have been published (hi exclusive for session/day; lo == hi when
    the time is exact)."""
    t = local(ts)
    if precision == "day":
        d = t.normalize()
        return d, d + pd.Timedelta(days=1)
    if precision == "session":
        tod = t.time()
        bounds = [s for s, _, _ in SEGMENTS] + [None]
        for k, start in enumerate(bounds[:-1]):
            nxt = bounds[k + 1]
            if nxt is None or tod < nxt:
                end = t.normalize() + pd.Timedelta(days=1) if nxt is None else at(t.date(), nxt)
                return t, end
    return t, t


def meets_market(ts, ts_precision: str = "second") -> tuple[pd.Timestamp, pd.Timestamp]:
    """Earliest and latest moment an item can first have met continuous trading (see module doc).

    ``meets_market("2023-05-24 12:10+08:00")`` → (13:00, 13:00); an after-close or weekend item → the
    next trading day's 09:30 open; a ``day`` item on a trading day → (09:30 that day, next open).
    """
    lo, hi = publish_interval(ts, ts_precision)
    if hi == lo:
        m = meet_time(lo)
        return m, m
    return meet_time(lo), meet_time(hi - pd.Timedelta(microseconds=1))


def segment(t: pd.Timestamp) -> tuple[str, str]:
    tod = t.time()
    name, rng = SEGMENTS[0][1], SEGMENTS[0][2]
    for start, n, r in SEGMENTS:
        if tod >= start:
            name, rng = n, r
    return name, rng
