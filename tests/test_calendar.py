"""The real SSE/SZSE calendar (XSHG) and the intraday session grid."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from anomaly import calendar as cal
from anomaly.errors import BadInput

TZ = "Asia/Shanghai"


@pytest.mark.parametrize("day,trading", [
    ("2023-06-20", True), ("2023-06-21", True),
    ("2023-06-22", False), ("2023-06-23", False),   # 端午节 Dragon Boat Festival
    ("2023-06-24", False),                          # Saturday
    ("2023-06-25", False),                          # Sunday (a make-up working day, but exchanges close)
    ("2023-06-26", True),
    ("2023-05-24", True),
    ("2023-09-29", False), ("2023-10-02", False), ("2023-10-06", False),  # 中秋 + 国庆
    ("2023-10-07", False), ("2023-10-08", False),  # weekend make-up days: still closed
    ("2023-10-09", True),
    ("2023-01-23", False), ("2023-01-27", False), ("2023-01-30", True),   # 春节
    ("2024-02-09", False),
])
def test_is_trading_day(day, trading):
    assert cal.is_trading_day(day) is trading
    assert (cal.why_closed(day) is None) is trading


@pytest.mark.parametrize("day,word", [
    ("2023-06-22", "端午节"), ("2023-06-23", "端午节"),
    ("2023-10-02", "国庆节"), ("2023-09-29", "中秋节"),
    ("2023-01-24", "春节"), ("2023-04-05", "清明节"), ("2023-05-01", "劳动节"),
    ("2023-01-02", "元旦"),
])
def test_why_closed_names_the_holiday(day, word):
    reason = cal.why_closed(day)
    assert reason is not None and word in reason
    assert day in reason


@pytest.mark.parametrize("day,dayname", [("2023-06-24", "Saturday"), ("2023-06-25", "Sunday")])
def test_why_closed_weekend(day, dayname):
    reason = cal.why_closed(day)
    assert dayname in reason and "weekend" in reason


def test_trading_days_2023_count_and_shape():
    days = cal.trading_days("2023-01-01", "2023-12-31")
    assert len(days) == 242  # SSE/SZSE traded 242 days in 2023
    assert days[0] == pd.Timestamp("2023-01-03") and days[-1] == pd.Timestamp("2023-12-29")
    assert days.tz is None
    assert days.is_monotonic_increasing and days.is_unique
    assert (days.day_of_week < 5).all()
    assert pd.Timestamp("2023-06-22") not in days and pd.Timestamp("2023-06-23") not in days


def test_trading_days_around_dragon_boat():
    days = cal.trading_days(dt.date(2023, 6, 20), dt.date(2023, 6, 27))
    assert [d.date().isoformat() for d in days] == ["2023-06-20", "2023-06-21", "2023-06-26", "2023-06-27"]


def test_trading_days_single_day_and_closed_range():
    assert len(cal.trading_days("2023-05-24", "2023-05-24")) == 1
    assert len(cal.trading_days("2023-06-22", "2023-06-25")) == 0


def test_trading_days_end_before_start():
    with pytest.raises(BadInput, match="before"):
        cal.trading_days("2023-06-27", "2023-06-20")


@pytest.mark.parametrize("func,day,n,expected", [
    ("previous", "2023-06-26", 1, "2023-06-21"),
    ("previous", "2023-06-26", 2, "2023-06-20"),
    ("previous", "2023-06-24", 1, "2023-06-21"),   # from a closed day: the last session before it
    ("previous", "2023-06-22", 1, "2023-06-21"),
    ("previous", "2023-10-09", 1, "2023-09-28"),
    ("previous", "2023-01-03", 1, "2022-12-30"),
    ("previous", "2023-05-24", 1, "2023-05-23"),
    ("next", "2023-06-21", 1, "2023-06-26"),
    ("next", "2023-06-22", 1, "2023-06-26"),       # from a closed day: the first session after it
    ("next", "2023-09-28", 1, "2023-10-09"),       # after 中秋 + National Day
    ("next", "2023-09-30", 1, "2023-10-09"),
    ("next", "2023-09-30", 2, "2023-10-10"),
    ("next", "2023-05-24", 1, "2023-05-25"),
    ("next", "2023-12-29", 1, "2024-01-02"),
])
def test_previous_next_trading_day(func, day, n, expected):
    f = cal.previous_trading_day if func == "previous" else cal.next_trading_day
    got = f(day, n)
    assert got == pd.Timestamp(expected)
    assert got.tzinfo is None


def test_previous_and_next_are_inverse_on_trading_days():
    days = cal.trading_days("2023-01-03", "2023-12-29")
    for d in days[1:-1]:
        assert cal.next_trading_day(cal.previous_trading_day(d)) == d
        assert cal.previous_trading_day(cal.next_trading_day(d)) == d


@pytest.mark.parametrize("call", [
    lambda: cal.previous_trading_day("2005-01-04"),   # the calendar's first session
    lambda: cal.previous_trading_day("1999-01-04"),
    lambda: cal.next_trading_day("2100-01-01"),
    lambda: cal.why_closed("1990-01-01"),
    lambda: cal.is_trading_day("2100-01-01"),
], ids=["prev-first-session", "prev-1999", "next-2100", "why-1990", "is-2100"])
def test_outside_calendar_is_bad_input(call):
    # A date outside the calendar is the user's input problem: one BadInput line, not an
    # exchange_calendars exception that the CLI would report as an "internal error".
    with pytest.raises(BadInput):
        call()


@pytest.mark.parametrize("text", ["2023-13-01", "yesterday", "", "2023-02-30"])
def test_not_a_date(text):
    with pytest.raises(BadInput):
        cal.is_trading_day(text)


def test_bar_end_times_1min():
    t = cal.bar_end_times("1min")
    assert len(t) == 240
    assert t[0] == dt.time(9, 31) and t[119] == dt.time(11, 30)
    assert t[120] == dt.time(13, 1) and t[-1] == dt.time(15, 0)
    assert dt.time(13, 0) not in t and dt.time(9, 30) not in t
    assert not any(dt.time(11, 30) < x < dt.time(13, 1) for x in t)
    assert list(t) == sorted(set(t))


@pytest.mark.parametrize("freq,n,first,last_morning,first_afternoon", [
    ("5min", 48, dt.time(9, 35), dt.time(11, 30), dt.time(13, 5)),
    ("15min", 16, dt.time(9, 45), dt.time(11, 30), dt.time(13, 15)),
    ("30min", 8, dt.time(10, 0), dt.time(11, 30), dt.time(13, 30)),
    ("60min", 4, dt.time(10, 30), dt.time(11, 30), dt.time(14, 0)),
])
def test_bar_end_times_other_freqs(freq, n, first, last_morning, first_afternoon):
    t = cal.bar_end_times(freq)
    assert len(t) == n
    assert t[0] == first and t[n // 2 - 1] == last_morning and t[n // 2] == first_afternoon
    assert t[-1] == dt.time(15, 0)


@pytest.mark.parametrize("freq", ["daily", "2min", "1m", ""])
def test_bar_end_times_bad_freq(freq):
    with pytest.raises(BadInput):
        cal.bar_end_times(freq)


def test_intraday_index():
    idx = cal.intraday_index(["2023-05-24", "2023-05-25"], "1min")
    assert len(idx) == 480
    assert str(idx.tz) == TZ
    assert idx[0] == pd.Timestamp("2023-05-24 09:31", tz=TZ)
    assert idx[119] == pd.Timestamp("2023-05-24 11:30", tz=TZ)
    assert idx[120] == pd.Timestamp("2023-05-24 13:01", tz=TZ)
    assert idx[239] == pd.Timestamp("2023-05-24 15:00", tz=TZ)
    assert idx[240] == pd.Timestamp("2023-05-25 09:31", tz=TZ)
    assert idx.is_monotonic_increasing and idx.is_unique
    assert len(cal.intraday_index(["2023-05-24"], "5min")) == 48


def test_intraday_index_of_tz_aware_days():
    # Daily bar stamps (2023-05-24 15:00+08:00) are a natural input; they must give the same grid
    # as the plain dates (or be refused), never a grid shifted by the UTC offset.
    plain = cal.intraday_index(["2023-05-24"], "1min")
    aware = pd.DatetimeIndex([pd.Timestamp("2023-05-24 15:00", tz=TZ)])
    try:
        got = cal.intraday_index(aware, "1min")
    except BadInput:
        return
    assert got.equals(plain), f"first bar {got[0]} instead of {plain[0]}"


@pytest.mark.parametrize("hhmm,expected", [
    ("09:31", 1), ("10:00", 30), ("11:30", 120), ("13:01", 121), ("14:00", 180), ("15:00", 240),
    ("12:00", np.nan), ("11:45", np.nan), ("13:00", np.nan),
])
def test_minute_of_session(hhmm, expected):
    ts = pd.Series([pd.Timestamp(f"2023-05-24 {hhmm}", tz=TZ)])
    got = cal.minute_of_session(ts).iloc[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == expected


def test_minute_of_session_whole_grid_and_other_zone():
    idx = cal.intraday_index(["2023-05-24"], "1min")
    m = cal.minute_of_session(pd.Series(idx))
    assert m.tolist() == list(range(1, 241))
    # the same instants written in UTC map to the same minutes
    utc = pd.Series(idx.tz_convert("UTC"))
    assert cal.minute_of_session(utc).tolist() == list(range(1, 241))


def test_auction_prints_are_not_session_minutes():
    ts = pd.Series(pd.DatetimeIndex(["2023-05-24 09:25", "2023-05-24 09:30"]).tz_localize(TZ))
    assert (cal.minute_of_session(ts) <= 0).all()


def test_daily_ts():
    got = cal.daily_ts(["2023-05-24", "2023-05-25"])
    assert list(got) == [pd.Timestamp("2023-05-24 15:00", tz=TZ), pd.Timestamp("2023-05-25 15:00", tz=TZ)]


def test_latest_completed_session():
    at = lambda s: pd.Timestamp(s, tz=TZ)  # noqa: E731
    assert cal.latest_completed_session(at("2023-05-24 15:00")) == pd.Timestamp("2023-05-24")
    assert cal.latest_completed_session(at("2023-05-24 14:59")) == pd.Timestamp("2023-05-23")
    assert cal.latest_completed_session(at("2023-06-24 10:00")) == pd.Timestamp("2023-06-21")
    assert cal.latest_completed_session(at("2023-06-26 09:00")) == pd.Timestamp("2023-06-21")


def test_calendar_command_holiday(run_cli):
    r = run_cli(["calendar", "2023-06-22"])
    assert r.code == 0, r.err
    assert "端午节" in r.out and "closed" in r.out


def test_calendar_command_range(run_cli):
    r = run_cli(["calendar", "2023-06-20", "2023-06-27"])
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert len(lines) == 8
    trading = [line.split()[0] for line in lines if line.endswith("trading day")]
    assert trading == ["2023-06-20", "2023-06-21", "2023-06-26", "2023-06-27"]


@pytest.mark.parametrize("args", [["2023-06-27", "2023-06-20"], ["2023-06-31"], ["1990-01-01"]])
def test_calendar_command_bad_input(run_cli, args):
    r = run_cli(["calendar", *args])
    assert r.code == 2
    assert len(r.err_lines) == 1 and "Traceback" not in r.err
