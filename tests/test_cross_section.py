"""Cross-section: market-wide and sector-wide days on the real 292-stock panel, and the marking."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomaly.detect import Context, make_detector, run_detectors
from anomaly.detect.cross_section import cross_section_table, mark_cross_section, market_wide_days

TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def panel():
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    idx = b[b["symbol"].str.contains(r"\.")]
    stocks = b[~b["symbol"].str.contains(r"\.") & (b["ts"] >= pd.Timestamp("2023-07-01", tz=TZ))]
    return stocks, idx


@pytest.fixture(scope="module")
def table(panel):
    stocks, idx = panel
    return cross_section_table(stocks, index_bars=idx)


def row(table, date, scope="market", industry=""):
    t = table[(table["date"] == pd.Timestamp(date)) & (table["scope"] == scope) & (table["industry"] == industry)]
    assert len(t) == 1
    return t.iloc[0]


@pytest.mark.parametrize("date, direction", [
    ("2024-01-22", "down"), ("2024-02-05", "down"),        # the small-cap crash
    ("2024-02-06", "up"),                                   # the rebound
    ("2024-09-27", "up"), ("2024-09-30", "up"), ("2024-10-08", "up"),   # the September rally
    ("2024-10-09", "down"),                                 # and its first reversal
])
def test_known_market_wide_days(table, date, direction):
    r = row(table, date)
    assert r["wide_close"] == direction
    assert r["basis"] == "universe" and r["n"] >= 280
    share = r[f"share_close_{direction}"]
    assert share >= 0.30
    assert r[f"n_close_{direction}"] == round(share * r["n"])


def test_intraday_extremes_and_quiet_days(table):
    # 2024-09-24: closes mostly below +5 % but a third of the panel traded above it intraday
    r = row(table, "2024-09-24")
    assert r["wide_close"] == "" and r["wide_extreme"] == "up"
    # 2024-02-02: most of the panel fell ≥ 5 % intraday (the day range crashes cluster on)
    assert row(table, "2024-02-02")["share_extreme_down"] >= 0.7
    quiet = row(table, "2024-06-12")
    assert quiet["wide_close"] == "" and quiet["wide_extreme"] == ""
    days = market_wide_days(table)
    assert {"2024-02-05", "2024-09-30", "2024-10-08"} <= set(days["date"].dt.strftime("%F"))


def test_sector_rows(table):
    sec = table[table["scope"] == "sector"]
    assert (sec["n"] >= 5).all()
    wide = sec[sec["wide_close"] != ""]
    assert len(wide) > 0
    r = wide.iloc[0]
    assert r[f"share_close_{r['wide_close']}"] >= 0.5


def test_mark_cross_section_on_real_anomalies(panel):
    stocks, idx = panel
    sel = stocks[stocks["ts"] <= pd.Timestamp("2024-02-08 23:00", tz=TZ)]
    an = run_detectors(sel, [make_detector("vol_surprise"), make_detector("range")], Context(index_bars=idx))
    marked, t = mark_cross_section(an, sel, index_bars=idx)
    assert len(marked) == len(an)
    day = marked["start"].dt.strftime("%F")
    feb5 = marked[(day == "2024-02-05") & (marked["magnitude"] < 0)]
    assert len(feb5) > 10
    cs = feb5["details"].map(lambda d: d.get("cross_section"))
    assert cs.map(lambda c: c is not None and c["scope"] == "market").all()
    c = cs.iloc[0]
    assert c["direction"] == "down" and c["share"] >= 0.3 and c["n"] >= 280 and c["threshold"] == 0.05
    assert c["measure"] in ("close", "extreme") and "industry" in c
    # input not modified
    assert all("cross_section" not in d for d in an["details"])


def test_small_universe_uses_the_index(panel):
    stocks, idx = panel
    one = stocks[stocks["symbol"] == "002230"]
    t = cross_section_table(one, index_bars=idx, index_move=0.03)
    r = t[(t["scope"] == "market") & (t["date"] == pd.Timestamp("2024-09-30"))].iloc[0]
    assert r["basis"] == "index" and r["index"] == "399001.SZ" and r["index_return"] > 0.10
    assert r["wide_close"] == "up"
    an = pd.DataFrame([{"symbol": "002230", "kind": "vol_surprise", "start": pd.Timestamp("2024-09-30 15:00", tz=TZ),
                        "end": pd.Timestamp("2024-09-30 15:00", tz=TZ), "magnitude": 0.1, "reference": "ewma_vol",
                        "score": 4.5, "p_value": None, "details": {}}])
    marked, _ = mark_cross_section(an, one, index_bars=idx)
    c = marked.iloc[0]["details"]["cross_section"]
    assert c["scope"] == "market" and c["basis"] == "index"


def test_sector_wide_literal():
    # 6 stocks of one industry fall 6 %, 24 others are flat → sector-wide, not market-wide
    days = pd.DatetimeIndex(["2023-03-01 15:00", "2023-03-02 15:00"]).tz_localize(TZ)
    rows = []
    codes = [f"6000{i:02d}" for i in range(30)]
    for i, c in enumerate(codes):
        fall = i < 6
        rows.append(dict(symbol=c, ts=days[0], open=10, high=10, low=10, close=10, prev_close=10, volume=1e6))
        rows.append(dict(symbol=c, ts=days[1], open=10, high=10, low=9.4 if fall else 9.95,
                         close=9.4 if fall else 10.0, prev_close=10, volume=1e6))
    bars = pd.DataFrame(rows)
    meta = pd.DataFrame({"industry": ["煤炭行业" if i < 6 else f"other{i % 4}" for i in range(30)],
                         "board": "main"}, index=codes)
    an = pd.DataFrame([{"symbol": "600000", "kind": "vol_surprise", "start": days[1], "end": days[1],
                        "magnitude": -0.06, "reference": "ewma_vol", "score": -5.0, "p_value": None, "details": {}},
                       {"symbol": "600010", "kind": "volume_surge", "start": days[1], "end": days[1],
                        "magnitude": 3.0, "reference": "trailing_median", "score": 5.0, "p_value": None,
                        "details": {}}])
    marked, t = mark_cross_section(an, bars, meta)
    c = marked.iloc[0]["details"]["cross_section"]
    assert c["scope"] == "sector" and c["industry"] == "煤炭行业" and c["industry_share"] == 1.0
    assert c["industry_n"] == 6 and c["share"] == pytest.approx(0.2)
    assert "cross_section" not in marked.iloc[1]["details"]          # flat stock of another industry
    m = t[(t["scope"] == "market") & (t["date"] == pd.Timestamp("2023-03-02"))].iloc[0]
    assert m["wide_close"] == "" and np.isclose(m["share_close_down"], 0.2)
