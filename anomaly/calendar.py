"""Trading days and sessions from the real SSE/SZSE calendar (exchange_calendars ``XSHG``).

Bars are labelled by their end: a daily bar ends 15:00; a 1-minute bar stamped 13:01 covers
13:00–13:01. The lunch break 11:30–13:00 and nights produce no bars and no returns.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from .errors import BadInput
from .rules import BAR_SESSIONS, DAILY_CLOSE
from .schema import TZ, freq_minutes


@lru_cache(maxsize=1)
def _cal():
    import exchange_calendars as xc  # ~0.2 s; only when a date question is asked

    return xc.get_calendar("XSHG", start="2005-01-04")


def _day(d) -> pd.Timestamp:
    try:
        t = pd.Timestamp(d)
    except (ValueError, TypeError):
        raise BadInput(f"not a date: {d!r} (use YYYY-MM-DD)") from None
    if pd.isna(t):
        raise BadInput(f"not a date: {d!r} (use YYYY-MM-DD)")
    if t.tzinfo is not None:
        t = t.tz_convert(TZ).tz_localize(None)
    return t.normalize()


def _check_range(t: pd.Timestamp) -> None:
    c = _cal()
    if t < c.first_session or t > c.last_session:
        raise BadInput(f"{t.date()} is outside the exchange calendar "
                       f"({c.first_session.date()}..{c.last_session.date()})")


def is_trading_day(d) -> bool:
    t = _day(d)
    _check_range(t)
    return bool(_cal().is_session(t))


def trading_days(start, end) -> pd.DatetimeIndex:
    """Trading days in [start, end] (naive dates)."""
    s, e = _day(start), _day(end)
    if e < s:
        raise BadInput(f"end date {e.date()} is before start date {s.date()}")
    c = _cal()
    s, e = max(s, c.first_session), min(e, c.last_session)
    if e < s:
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(c.sessions_in_range(s, e)).tz_localize(None)


def previous_trading_day(d, n: int = 1) -> pd.Timestamp:
    try:
        return _previous(d, n)
    except ValueError:  # exchange_calendars' DateOutOfBounds / RequestedSessionOutOfBounds
        raise BadInput(f"{n} trading day(s) before {d} is outside the exchange calendar "
                       f"({_cal().first_session.date()}..{_cal().last_session.date()})") from None


def _previous(d, n):
    t = _day(d)
    c = _cal()
    s = c.date_to_session(t, direction="previous") if not c.is_session(t) else t
    if not c.is_session(t):
        n -= 1
    return pd.Timestamp(c.session_offset(s, -n)).tz_localize(None) if n else pd.Timestamp(s).tz_localize(None)


def next_trading_day(d, n: int = 1) -> pd.Timestamp:
    try:
        return _next(d, n)
    except ValueError:
        raise BadInput(f"{n} trading day(s) after {d} is outside the exchange calendar "
                       f"({_cal().first_session.date()}..{_cal().last_session.date()})") from None


def _next(d, n):
    t = _day(d)
    c = _cal()
    s = c.date_to_session(t, direction="next") if not c.is_session(t) else t
    if not c.is_session(t):
        n -= 1
    return pd.Timestamp(c.session_offset(s, n)).tz_localize(None) if n else pd.Timestamp(s).tz_localize(None)


def latest_completed_session(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The last trading day whose 15:00 close has passed (Shanghai time)."""
    now = pd.Timestamp.now(tz=TZ) if now is None else pd.Timestamp(now).tz_convert(TZ)
    today = now.tz_localize(None).normalize()
    if is_trading_day(today) and now.time() >= DAILY_CLOSE:
        return today
    return previous_trading_day(today)


# Approximate holiday windows (month, day ranges) for naming closures; the calendar decides
# *whether* a day is closed, this table only says which festival it most likely belongs to.
_HOLIDAY_NAMES = (
    ((1, 1), (1, 3), "元旦 New Year's Day"),
    ((1, 19), (2, 20), "春节 Spring Festival"),
    ((4, 2), (4, 7), "清明节 Qingming Festival"),
    ((4, 29), (5, 6), "劳动节 Labour Day"),
    ((5, 28), (6, 25), "端午节 Dragon Boat Festival"),
    ((9, 7), (9, 30), "中秋节 Mid-Autumn Festival"),
    ((10, 1), (10, 8), "国庆节 National Day"),
)


def why_closed(d) -> str | None:
    """None on a trading day, else a sentence saying why the exchange is closed."""
    t = _day(d)
    _check_range(t)
    if _cal().is_session(t):
        return None
    if t.weekday() >= 5:
        return f"{t.date()} is a {t.day_name()}: SSE/SZSE do not trade at weekends"
    md = (t.month, t.day)
    for lo, hi, name in _HOLIDAY_NAMES:
        if lo <= md <= hi:
            return f"{t.date()} is an exchange holiday ({name}) in the SSE/SZSE calendar"
    return f"{t.date()} is an exchange holiday in the SSE/SZSE calendar"


def daily_ts(days) -> pd.DatetimeIndex:
    """Daily bar labels: each trading day at 15:00 Shanghai time."""
    idx = pd.DatetimeIndex(pd.to_datetime(days)).normalize()
    return (idx + pd.Timedelta(hours=15)).tz_localize(TZ)


@lru_cache(maxsize=8)
def bar_end_times(freq: str) -> tuple[dt.time, ...]:
    """Bar end times of one trading day for an intraday frequency (240 for 1min, 48 for 5min)."""
    step = freq_minutes(freq)
    out = []
    for start, end in BAR_SESSIONS:
        t = dt.datetime.combine(dt.date(2000, 1, 3), start)
        stop = dt.datetime.combine(dt.date(2000, 1, 3), end)
        while t < stop:
            t += dt.timedelta(minutes=step)
            out.append(min(t, stop).time())
    return tuple(out)


def intraday_index(days, freq: str) -> pd.DatetimeIndex:
    """All bar-end timestamps of the given trading days at an intraday frequency."""
    days = pd.DatetimeIndex(pd.to_datetime(days))
    if days.tz is not None:
        days = days.tz_convert(TZ).tz_localize(None)
    days = days.normalize().as_unit("ns")
    offs = np.array([pd.Timedelta(hours=t.hour, minutes=t.minute).value for t in bar_end_times(freq)])
    stamps = (days.asi8[:, None] + offs[None, :]).ravel()
    return pd.DatetimeIndex(stamps.astype("datetime64[ns]")).tz_localize(TZ)


def minute_of_session(ts: pd.Series) -> pd.Series:
    """Trading minutes elapsed at each bar end (09:31 → 1, 11:30 → 120, 13:01 → 121, 15:00 → 240).

    Values outside 1..240 (auction prints at 09:25/09:30, lunch-break stamps) come back as <=0 or
    NaN so callers can reject or route them explicitly.
    """
    local = ts.dt.tz_convert(TZ)
    m = local.dt.hour * 60 + local.dt.minute + local.dt.second / 60.0
    morning = m - (9 * 60 + 30)
    afternoon = m - 13 * 60 + 120
    out = pd.Series(np.where(m <= 11 * 60 + 30, morning, np.where(m > 13 * 60, afternoon, np.nan)),
                    index=ts.index)
    return out
