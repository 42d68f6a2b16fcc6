"""``--source synthetic``: one seeded path per stock, the same whatever range is asked, daily bars that
agree with the minute bars, a planted cliff on 2023-05-24, and always labelled synthetic. (SYNTHETIC data.)"""
from __future__ import annotations

import datetime as dt

import pytest

from anomaly.errors import BadInput
from anomaly.schema import validate_bars
from anomaly.sources.synthetic import SyntheticSource
from anomaly.symbols import resolve

D = dt.date
SYM = resolve("002230")


@pytest.fixture(scope="module")
def src():
    return SyntheticSource(seed=7)


def test_a_day_looks_the_same_whatever_range_is_asked(src):
    one = src.intraday_bars(SYM, D(2023, 5, 24), D(2023, 5, 24), "1min")
    month = src.intraday_bars(SYM, D(2023, 5, 1), D(2023, 5, 31), "1min")
    assert len(one) == 240
    assert month[month["ts"].dt.date == D(2023, 5, 24)].reset_index(drop=True).equals(one)
    short = src.daily_bars(SYM, D(2023, 5, 22), D(2023, 5, 26))
    long = src.daily_bars(SYM, D(2022, 3, 1), D(2023, 6, 30))
    assert long[long["ts"].dt.date.between(D(2023, 5, 22), D(2023, 5, 26))].reset_index(drop=True).equals(short)


@pytest.mark.parametrize("day", [D(2023, 5, 24), D(2023, 5, 25), D(2021, 3, 1)])
def test_daily_bars_are_the_minute_bars_aggregated(src, day):
    m = src.intraday_bars(SYM, day, day, "1min")
    d = src.daily_bars(SYM, day, day).iloc[0]
    assert (d["open"], d["high"], d["low"], d["close"]) == (m["open"].iloc[0], m["high"].max(), m["low"].min(),
                                                            m["close"].iloc[-1])
    assert d["prev_close"] == m["prev_close"].iloc[0] and d["volume"] == m["volume"].sum()
    assert d["ts"].hour == 15


def test_five_minute_bars_come_from_the_same_path(src):
    m1 = src.intraday_bars(SYM, D(2023, 5, 24), D(2023, 5, 24), "1min")
    m5 = src.intraday_bars(SYM, D(2023, 5, 24), D(2023, 5, 24), "5min")
    assert len(m5) == 48
    assert m5["low"].min() == m1["low"].min() and m5["close"].iloc[-1] == m1["close"].iloc[-1]


def test_the_case_day_has_a_cliff_within_the_limits(src):
    m = src.intraday_bars(SYM, D(2023, 5, 24), D(2023, 5, 24), "1min")
    prev = m["prev_close"].iloc[0]
    low_at = m.loc[m["low"].idxmin(), "ts"]
    assert m["low"].min() / prev - 1 < -0.06 and low_at.strftime("%H:%M") <= "13:10"
    assert m["low"].min() >= round(prev * 0.9, 2) - 0.01          # never below the 10 % limit-down price


def test_frames_are_labelled_and_canonical(src):
    d = src.daily_bars(SYM, D(2023, 1, 3), D(2023, 6, 30))
    assert d.attrs["synthetic"] is True
    validate_bars(d)
    assert src.daily_bars(resolve("399001"), D(2023, 5, 1), D(2023, 5, 31)).attrs["synthetic"] is True


@pytest.mark.parametrize("start, end, message", [
    (D(2019, 1, 2), D(2019, 1, 31), "the synthetic market runs 2020-01-02..2026-12-31"),
    (D(2023, 6, 22), D(2023, 6, 23), "no trading day between"),
])
def test_outside_the_market_or_no_trading_day_is_bad_input(src, start, end, message):
    with pytest.raises(BadInput, match=message):
        src.daily_bars(SYM, start, end)
