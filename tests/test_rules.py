"""Exchange rules as data: price limits, limit prices, 异常波动 / 龙虎榜 thresholds, benchmarks."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from anomaly import rules
from anomaly.rules import (DEFAULT_BENCHMARKS, deviation_rules, lhb_screen, limit_flags, limit_pct,
                           limit_pct_array, limit_price, limit_prices, resolve_benchmark)

D = dt.date


@pytest.mark.parametrize("board, st, day, expected", [
    ("main", False, D(2023, 5, 24), 0.10),
    ("main", True, D(2023, 5, 24), 0.05),          # 风险警示 5 % …
    ("main", True, D(2026, 7, 3), 0.05),           # … until the Friday before the change
    ("main", True, D(2026, 7, 6), 0.10),           # … 10 % from Monday 2026-07-06
    ("chinext", False, D(2020, 8, 21), 0.10),      # last day of the old ChiNext regime
    ("chinext", False, D(2020, 8, 24), 0.20),      # registration reform's first day
    ("chinext", True, D(2020, 8, 21), 0.05),
    ("chinext", True, D(2023, 1, 3), 0.20),        # ChiNext ST: 20 % too
    ("star", False, D(2019, 7, 22), 0.20),
    ("star", True, D(2024, 1, 2), 0.20),
    ("bse", False, D(2022, 1, 4), 0.30),
    ("index", False, D(2023, 1, 3), None),
    ("star", False, D(2019, 7, 19), None),         # before STAR existed
])
def test_limit_pct_table(board, st, day, expected):
    assert limit_pct(board, day, st) == expected
    arr = limit_pct_array(np.array([board]), np.array([st]), np.array([np.datetime64(day)]))
    assert (np.isnan(arr[0]) and expected is None) or arr[0] == expected


@pytest.mark.parametrize("prev, pct, up, down", [
    (51.87, 0.10, 57.06, 46.68),     # 002230 on 2023-10-24: 51.87 × 0.9 = 46.683 → 46.68
    (59.09, 0.10, 65.00, 53.18),     # 64.999 → 65.00 ; 53.181 → 53.18
    (10.05, 0.10, 11.06, 9.05),      # 11.055 → 11.06 and 9.045 → 9.05: half-up, not banker's
    (3.33, 0.05, 3.50, 3.16),        # ST: 3.4965 → 3.50 ; 3.1635 → 3.16
    (12.34, 0.20, 14.81, 9.87),      # ChiNext/STAR: 14.808 → 14.81 ; 9.872 → 9.87
    (7.16, 0.30, 9.31, 5.01),        # BSE: 9.308 → 9.31 ; 5.012 → 5.01
])
def test_limit_price_rounding(prev, pct, up, down):
    assert limit_price(prev, pct, up=True) == up
    assert limit_price(prev, pct, up=False) == down
    u, d = limit_prices(np.array([prev]), np.array([pct]))
    assert (u[0], d[0]) == (up, down)


def test_vectorised_limit_prices_match_decimal_on_every_cent():
    rng = np.random.default_rng(7)
    prev = np.round(rng.uniform(0.5, 300.0, 4000), 2)
    for pct in (0.05, 0.10, 0.20, 0.30):
        u, d = limit_prices(prev, np.full(len(prev), pct))
        assert all(u[i] == limit_price(prev[i], pct, True) for i in range(0, len(prev), 7))
        assert all(d[i] == limit_price(prev[i], pct, False) for i in range(0, len(prev), 7))
    u, d = limit_prices(np.array([np.nan, 10.0]), np.array([0.1, np.nan]))
    assert np.isnan(u).all() and np.isnan(d).all()


def day(s):
    return np.datetime64(s, "D")


@pytest.mark.parametrize("case", [
    # board, st, date, prev, high, low, close → expected flags (touched_up, closed_up, touched_down, closed_down)
    dict(board="main", st=False, date="2023-10-24", prev=51.87, high=52.67, low=46.68, close=46.70,
         flags=(False, False, True, False)),                       # touched limit-down, not closed
    dict(board="main", st=False, date="2023-01-30", prev=10.00, high=11.00, low=10.20, close=11.00,
         flags=(True, True, False, False)),                        # a 10 % limit-up close
    dict(board="main", st=True, date="2023-06-01", prev=3.33, high=3.50, low=3.30, close=3.45,
         flags=(True, False, False, False)),                       # ST 5 %: touched 3.50, closed below
    dict(board="chinext", st=False, date="2023-06-01", prev=20.00, high=24.00, low=19.00, close=24.00,
         flags=(True, True, False, False)),                        # ChiNext 20 % limit-up close
    dict(board="chinext", st=False, date="2023-06-01", prev=20.00, high=22.00, low=18.00, close=18.00,
         flags=(False, False, False, False)),                      # −10 % is no limit on ChiNext
    dict(board="star", st=False, date="2023-06-01", prev=20.00, high=20.5, low=16.00, close=16.00,
         flags=(False, False, True, True)),                        # STAR limit-down close
])
def test_limit_flags_table(case):
    f = limit_flags(np.array([case["board"]], dtype=object), np.array([case["st"]]),
                    np.array([day(case["date"])]), np.array([case["prev"]]), np.array([case["high"]]),
                    np.array([case["low"]]), np.array([case["close"]]))
    got = (f["touched_up"][0], f["closed_up"][0], f["touched_down"][0], f["closed_down"][0])
    assert got == case["flags"]
    assert not f["no_limit"][0]


def test_range_outside_the_band_is_a_no_limit_day():
    # IPO day (prev = issue price 55.00, high 94.80) and an ex-rights day with the raw previous close
    f = limit_flags(np.array(["star", "main"], dtype=object), np.array([False, False]),
                    np.array([day("2023-07-10"), day("2022-05-30")]), np.array([55.0, 19.33]),
                    np.array([94.80, 13.20]), np.array([77.0, 12.80]), np.array([87.11, 13.16]))
    assert f["no_limit"].tolist() == [True, True]
    assert not f["touched_up"].any() and not f["touched_down"].any()
    assert np.isnan(f["pct"]).all()
    # a caller-supplied IPO mask also switches limits off
    f = limit_flags(np.array(["main"], dtype=object), np.array([False]), np.array([day("2023-06-01")]),
                    np.array([10.0]), np.array([11.0]), np.array([10.0]), np.array([11.0]),
                    no_limit=np.array([True]))
    assert f["no_limit"][0] and not f["closed_up"][0]


def test_deviation_rules_by_board_st_and_date():
    main = {r.name: (r.days, r.up, r.down) for r in deviation_rules("main", st=False, day=D(2023, 5, 24))}
    assert main == {"abnormal_3d": (3, 0.20, -0.20), "serious_10d": (10, 1.00, -0.50),
                    "serious_30d": (30, 2.00, -0.70)}
    st = {r.name: (r.up, r.down) for r in deviation_rules("main", st=True, day=D(2023, 5, 24))}
    assert st["abnormal_3d"] == (0.12, -0.12)
    st_after = {r.name: (r.up, r.down) for r in deviation_rules("main", st=True, day=D(2026, 7, 6))}
    assert st_after["abnormal_3d"] == (0.20, -0.20)
    for board in ("chinext", "star"):
        r3 = [r for r in deviation_rules(board, st=False, day=D(2023, 5, 24)) if r.name == "abnormal_3d"]
        assert [(r.up, r.down) for r in r3] == [(0.30, -0.30)]
    old = [r for r in deviation_rules("chinext", day=D(2020, 8, 21)) if r.name == "abnormal_3d"]
    assert [(r.up, r.down) for r in old] == [(0.20, -0.20)]
    assert all(r.reset for r in rules.DEVIATION_RULES if r.name == "abnormal_3d")
    assert all(r.source for r in rules.DEVIATION_RULES)


def test_lhb_screens():
    m = lhb_screen("main", D(2023, 5, 24))
    assert (m.deviation, m.amplitude, m.turnover, m.top_n) == (0.07, 0.15, 0.20, 5)
    for board in ("chinext", "star"):
        s = lhb_screen(board, D(2023, 5, 24))
        assert (s.deviation, s.amplitude, s.turnover) == (0.15, 0.30, 0.30)
    old = lhb_screen("chinext", D(2020, 8, 21))
    assert (old.deviation, old.amplitude, old.turnover) == (0.07, 0.15, 0.20)
    assert lhb_screen("index") is None


def test_benchmark_resolution_and_fallbacks():
    assert DEFAULT_BENCHMARKS[("SZ", "main")] == "399001.SZ"
    avail = {"399001.SZ", "000001.SH"}
    assert resolve_benchmark("SZ", "main", avail) == "399001.SZ"
    assert resolve_benchmark("SZ", "chinext", avail) == "399001.SZ"      # 399006 missing → 399001
    assert resolve_benchmark("SH", "star", avail) == "000001.SH"         # 000688 missing → 000001
    assert resolve_benchmark("SZ", "main", avail, {"SZ.main": "000300.SH"}) == "399001.SZ"
    assert resolve_benchmark("SZ", "main", avail | {"000300.SH"}, {"SZ.main": "000300.SH"}) == "000300.SH"
    assert resolve_benchmark("SH", "main", {"000300.SH"}) == "000300.SH"
    assert resolve_benchmark("SH", "main", set()) is None
    # the regulator's classification index when present, else its fallbacks
    assert resolve_benchmark("SZ", "main", {"399106.SZ", "399001.SZ"}, table=rules.REGULATOR_INDEX) == "399106.SZ"
    assert resolve_benchmark("SZ", "main", {"399001.SZ"}, table=rules.REGULATOR_INDEX) == "399001.SZ"


def test_ipo_no_limit_days():
    assert rules.ipo_no_limit_days("main", D(2023, 4, 10)) == 5
    assert rules.ipo_no_limit_days("main", D(2022, 1, 5)) == 1
    assert rules.ipo_no_limit_days("chinext", D(2021, 1, 5)) == 5
    assert rules.ipo_no_limit_days("bse", D(2022, 1, 5)) == 1


def test_module_cites_its_sources():
    doc = rules.__doc__
    for phrase in ("收盘价涨跌幅偏离值", "取对应的涨跌幅限制比例", "当日最低价", "2026-07-06", "前五只",
                   "异常波动指标自公告之日起重新计算"):
        assert phrase in doc
