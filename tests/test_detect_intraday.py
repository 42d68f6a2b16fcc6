"""Intraday detectors: the cliff/spike rule and the Lee–Mykland jump test (anomaly.detect).

Synthetic frames come from anomaly.simulate (seeded, labelled synthetic, never market data); the
small cases are literal series written out here.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from anomaly.detect import available, make_detector
from anomaly.detect.jumps import lee_mykland, lm_constants, lm_critical_value, lm_pvalue, lm_window
from anomaly.errors import BadInput, ConfigError
from anomaly.schema import ANOMALY_COLUMNS
from anomaly.simulate import Plant, simulate_market
from anomaly.calendar import intraday_index

TZ = "Asia/Shanghai"
EDGES = ("09:31", "13:01", "15:00")


def details(res: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([res.drop(columns="details"), pd.json_normalize(res["details"]).add_prefix("d_")], axis=1)


def match(truth: pd.DataFrame, res: pd.DataFrame, kind: str = "cliff") -> pd.DataFrame:
    """Each planted event with the record of that symbol whose [start, end] overlaps its move."""
    r = details(res[res["kind"] == kind].reset_index(drop=True))
    m = truth.merge(r, on="symbol", how="left")
    hit = (m["start"] <= m["trough"]) & (m["end"] >= m["onset"])
    m = m[hit | m["start"].isna()].drop_duplicates("symbol")
    return truth[["symbol"]].merge(m, on="symbol", how="left")


# --- acceptance: 200 seeded cliff days and 4,000 calm stock-days ----------------------------------


@pytest.fixture(scope="module")
def seeded():
    """SYNTHETIC: 200 symbols × 21 days; days 1–20 calm, day 21 a −8 % cliff at 13:01 in every symbol
    recovering 50 % by the close (the 2023-05-24 shape)."""
    bars, truth = simulate_market(200, 21, seed=2023, events=[Plant("cliff", day=-1, onset="13:01",
                                                                    depth=0.08, recovery=0.5)])
    res = make_detector("cliff").detect(bars)
    return bars, truth, res


def test_cliff_onset_depth_and_recovery_on_200_seeded_days(seeded):
    _, truth, res = seeded
    assert len(truth) == 200
    m = match(truth, res)
    found = m["start"].notna()
    onset_err = (m["start"] - m["onset"]).dt.total_seconds().abs() / 60
    depth_err = (m["d_depth_vs_pre_move"] - m["depth"]).abs()
    ok = found & (onset_err <= 2) & (depth_err <= 0.005)
    assert ok.mean() >= 0.95, (ok.mean(), m[~ok][["symbol", "start", "onset", "d_depth_vs_pre_move", "depth"]])
    # the planted depth is −8 % except where the price limit stopped the fall (reported as at_limit)
    free = ~m["at_limit"].astype(bool)
    assert (np.abs(m.loc[free & ok, "d_depth_vs_pre_move"] + 0.08) <= 0.005).all()
    assert (np.abs(m.loc[ok, "magnitude"] - m.loc[ok, "depth_vs_prev_close"]) <= 0.005).all()
    assert (m.loc[ok, "reference"] == "prev_close").all()
    assert np.median(np.abs(m.loc[ok, "d_recovery_by_close"] - m.loc[ok, "recovery"])) < 0.05
    assert (m.loc[ok, "d_speed_pct_per_min"] < -1.0).all()        # −8 % in about 3 minutes
    assert (m.loc[ok, "end"].dt.strftime("%H:%M") <= "13:05").mean() > 0.95


def test_calm_days_raise_at_most_one_false_alarm_per_20_stock_days(seeded):
    _, truth, res = seeded
    last = truth["day"].dt.date.iloc[0]
    calm = res[res["start"].dt.date != last]
    stock_days = 200 * 20
    assert len(calm) / stock_days <= 1 / 20, len(calm) / stock_days
    assert (calm["kind"] == "cliff").sum() / stock_days <= 1 / 40


def test_time_of_day_profile_keeps_open_reopen_and_close_quiet(seeded):
    """Same z and no size floor: a flat scale alarms at 09:31/13:01/15:00, the profile does not."""
    bars, truth, _ = seeded
    calm = bars[bars["ts"].dt.date != truth["day"].dt.date.iloc[0]]
    loose = dict(z=4.5, min_move_main=0.002, min_move_growth=0.002, windows=(1,), spikes=True)
    share = {}
    for tod in (True, False):
        res = make_detector("cliff", tod=tod, **loose).detect(calm)
        hm = res["start"].dt.strftime("%H:%M")
        share[tod] = (hm.isin(EDGES).sum(), len(res))
    uniform = len(EDGES) / 240
    assert share[False][0] / share[False][1] > 8 * uniform        # flat scale: the opens dominate
    assert share[True][0] / share[True][1] < 2.5 * uniform        # profile: about their share of slots
    assert share[False][0] > 10 * share[True][0]
    # a naive fixed rule (|1-minute move| ≥ 1.5 %) fires at those slots on these calm days …
    b = calm.assign(hm=calm["ts"].dt.strftime("%H:%M"))
    prev = b.groupby([b["symbol"], b["ts"].dt.date])["close"].shift(1)
    prev = prev.where(b["hm"] != "09:31", b["open"])
    naive = b[(np.log(b["close"] / prev).abs() >= 0.015) & b["hm"].isin(EDGES)]
    # … while the default detector raises almost none there (those few are genuine fat-tail moves of
    # 5–10 %, which the simulator produces at every time of day)
    res = make_detector("cliff").detect(calm)
    at_edges = res["start"].dt.strftime("%H:%M").isin(EDGES).sum()
    assert at_edges <= 4000 / 400 and len(naive) > 5 * max(at_edges, 1)


# --- literal series: what the rule does and does not flag -----------------------------------------


def literal_day(symbol: str, moves: dict[str, float], prev_close: float = 10.0, day: str = "2023-05-24"):
    """240 one-minute bars: a deterministic ±1-cent wiggle, then a path through ``moves``
    ({"13:03": -0.08} = 8 % below the previous close at 13:03, linear in between, flat after)."""
    idx = intraday_index(pd.DatetimeIndex([day]), "1min")
    hm = idx.strftime("%H:%M")
    anchors = {"09:31": 0.0, **moves}
    pos = {k: int(np.flatnonzero(hm == k)[0]) for k in anchors}
    xs = sorted(pos.values())
    level = np.interp(np.arange(240), xs, [anchors[k] for k in sorted(anchors, key=pos.get)])
    wiggle = 0.01 * np.array([0, 1, 0, -1, 1])[np.arange(240) % 5]
    wiggle[xs[1]:] = 0.0                     # quiet from the first anchor on: the extremes are the anchors
    close = np.round(prev_close * (1 + level) + wiggle, 2)
    close[237:239] = close[236]                                   # 14:58, 14:59: closing call
    open_ = np.r_[prev_close, close[:-1]]
    return pd.DataFrame({"symbol": symbol, "ts": idx, "open": open_, "high": np.maximum(open_, close),
                         "low": np.minimum(open_, close), "close": close, "prev_close": prev_close,
                         "volume": 1000.0, "amount": 1000.0 * close})


@pytest.mark.parametrize("symbol, moves, expect", [
    ("002230", {"11:30": 0.0, "13:03": -0.08}, [("cliff", "13:01", "13:03", -0.08)]),   # 13:00 reopen
    ("002230", {"13:01": 0.0, "13:04": -0.08}, [("cliff", "13:02", "13:04", -0.08)]),
    ("002230", {"10:00": 0.0, "10:05": 0.08}, [("spike", "10:01", "10:05", 0.08)]),
    ("002230", {"10:00": 0.0, "10:05": -0.04}, [("cliff", "10:01", "10:05", -0.04)]),
    ("002230", {"10:00": 0.0, "10:05": -0.02}, []),                  # below the 3 % main-board floor
    ("300750", {"10:00": 0.0, "10:05": -0.04}, []),                  # ChiNext: 5 % floor (20 % limits)
    ("300750", {"10:00": 0.0, "10:05": -0.06}, [("cliff", "10:01", "10:05", -0.06)]),
    ("002230", {"10:00": 0.0, "14:00": -0.06}, []),                  # a slow bleed is no cliff
])
def test_literal_days(symbol, moves, expect):
    res = make_detector("cliff").detect(literal_day(symbol, moves))
    got = [(r.kind, r.start.strftime("%H:%M"), r.end.strftime("%H:%M"), round(r.magnitude, 3))
           for r in res.itertuples()]
    assert got == expect


def test_literal_cliff_details():
    res = make_detector("cliff").detect(literal_day("002230", {"11:30": 0.0, "13:03": -0.08, "14:57": -0.04}))
    r = res.iloc[0]
    d = r["details"]
    assert (r["kind"], r["reference"], r["magnitude"]) == ("cliff", "prev_close", pytest.approx(-0.08))
    assert d["pre_move_level"] == 10.0 and d["extreme_price"] == 9.2 and d["window_minutes"] == 3
    assert d["depth_vs_pre_move"] == pytest.approx(-0.08) and d["speed_pct_per_min"] == pytest.approx(-8 / 3)
    assert d["recovery_by_close"] == pytest.approx((9.6 - 9.2) / (10.0 - 9.2), abs=0.02)
    assert d["close_vs_prev_close"] == pytest.approx(-0.04, abs=0.002)
    assert d["history_days"] == 0 and r["score"] < -6 and 0 <= r["p_value"] < 1e-6
    assert set(res.columns) == set(ANOMALY_COLUMNS)


def test_limit_down_is_flagged_and_says_so():
    res = make_detector("cliff").detect(literal_day("002230", {"10:00": 0.0, "10:04": -0.10}))
    assert res.iloc[0]["details"]["at_limit"] is True and res.iloc[0]["magnitude"] == pytest.approx(-0.10)


# --- detector contract ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    """SYNTHETIC: 30 symbols × 6 days with cliffs and spikes at random times on the last two days."""
    return simulate_market(30, 6, seed=77, events=[
        Plant("cliff", day=-1, symbols=12, onset="random", depth=(0.06, 0.1)),
        Plant("spike", day=-2, symbols=8, onset="random", depth=(0.06, 0.1))])


def test_registry_and_parameters():
    assert {"cliff", "lee_mykland"} <= set(available("intraday"))
    assert make_detector("cliff", windows=[30, 5, 5]).windows == (5, 30)
    with pytest.raises(ConfigError, match="windows"):
        make_detector("cliff", windows=[0])
    with pytest.raises(ConfigError, match="no parameter 'zz'"):
        make_detector("cliff", zz=3)
    with pytest.raises(ConfigError, match="alpha"):
        make_detector("lee_mykland", alpha=2)


def test_deterministic_and_order_stable(small):
    bars, truth = small
    det = make_detector("cliff")
    a = det.detect(bars)
    shuffled = bars.sample(frac=1.0, random_state=1).sort_values("ts", kind="stable")   # interleaved symbols
    b = det.detect(shuffled)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ANOMALY_COLUMNS and isinstance(a.index, pd.RangeIndex)
    key = list(zip(a["start"], a["symbol"], a["kind"]))
    assert key == sorted(key)
    assert len(match(truth[truth["kind"] == "cliff"], a).dropna(subset=["start"])) >= 11


def test_no_look_ahead(small):
    bars, _ = small
    det = make_detector("cliff")
    full = det.detect(bars)
    days = sorted(bars["ts"].dt.date.unique())
    # dropping later days changes no earlier record
    early = det.detect(bars[bars["ts"].dt.date <= days[3]])
    pd.testing.assert_frame_equal(early, full[full["start"].dt.date <= days[3]].reset_index(drop=True))
    # truncating a day after an episode has ended changes only the "rest of the day" fields
    last = full[full["start"].dt.date == days[-1]].iloc[0]
    cut = pd.Timestamp(last["details"]["episode_end"])
    part = det.detect(bars[bars["ts"] <= cut])
    again = part[(part["symbol"] == last["symbol"]) & (part["start"] == last["start"])].iloc[0]
    for col in ("kind", "start", "end", "magnitude", "score", "p_value"):
        assert again[col] == last[col], col
    skip = {"recovery_by_close", "close_vs_prev_close"}
    assert {k: v for k, v in again["details"].items() if k not in skip} == \
           {k: v for k, v in last["details"].items() if k not in skip}


def test_nan_bars_are_suspensions_not_errors(small):
    bars, truth = small
    holes = bars.copy()
    rng = np.random.default_rng(0)
    calm = holes["ts"].dt.date < truth["day"].dt.date.min()
    drop = calm & (rng.random(len(holes)) < 0.05)
    holes.loc[drop, ["open", "high", "low", "close"]] = np.nan
    res = make_detector("cliff").detect(holes)
    cl = truth[truth["kind"] == "cliff"]
    assert match(cl, res)["start"].notna().mean() >= 11 / 12
    assert len(make_detector("lee_mykland").detect(holes)) > 0


def test_lunch_break_bar_in_detector_input_is_bad_input(small):
    bars, _ = small
    bad = bars.copy()
    bad.loc[5, "ts"] = pd.Timestamp("2023-05-22 12:00", tz=TZ)
    bad = bad.sort_values(["symbol", "ts"]).reset_index(drop=True)
    with pytest.raises(BadInput, match=r"12:00 is in the lunch break \(11:30–13:00\)"):
        make_detector("cliff", bar_freq="1min").detect(bad)


def test_five_minute_bars():
    bars, truth = simulate_market(40, 6, freq="5min", seed=8, events=[Plant("cliff", day=-1, symbols=20)])
    m = match(truth, make_detector("cliff").detect(bars))
    assert m["start"].notna().mean() >= 0.95
    assert (m["start"].dt.strftime("%H:%M") == "13:05").mean() >= 0.95
    assert (m["d_freq"] == "5min").all()


# --- Lee–Mykland ------------------------------------------------------------------------------------


def test_lm_constants_by_hand():
    # n = 240 one-minute bars: log n = 5.48064, √(2 log n) = 3.31079, c = √(2/π) = 0.797885
    c = math.sqrt(2 / math.pi)
    a = math.sqrt(2 * math.log(240))
    cn = a / c - (math.log(math.pi) + math.log(math.log(240))) / (2 * c * a)
    sn = 1 / (c * a)
    assert lm_constants(240) == pytest.approx((cn, sn))
    assert (round(cn, 4), round(sn, 4)) == (3.6108, 0.3786)
    beta = -math.log(-math.log(0.99))                                    # 4.60015
    assert lm_critical_value(240, 0.01) == pytest.approx(cn + sn * beta)
    assert round(lm_critical_value(240, 0.01), 2) == 5.35
    assert round(lm_critical_value(48, 0.01), 2) == 5.00                 # a day of 5-minute bars
    assert (lm_window(240), lm_window(48)) == (245, 109)                  # ⌊√(252·n)⌋
    assert lm_pvalue(cn + sn * beta, 240) == pytest.approx(0.01)


def test_lm_statistic_by_hand_on_a_literal_series():
    r = pd.Series([0.001, -0.002, 0.0015, -0.001, 0.002, 0.03, -0.0005, 0.001])
    out = lee_mykland(r, n_per_day=240, alpha=0.01, K=5)
    # K = 5: σ̂_i² = (|r_{i-1}||r_{i-2}| + |r_{i-2}||r_{i-3}| + |r_{i-3}||r_{i-4}|) / 3
    s4 = math.sqrt((0.002 * 0.001 + 0.0015 * 0.002 + 0.001 * 0.0015) / 3)      # 1.47196e-3
    s5 = math.sqrt((0.0015 * 0.002 + 0.001 * 0.0015 + 0.002 * 0.001) / 3)      # same products
    s6 = math.sqrt((0.001 * 0.0015 + 0.002 * 0.001 + 0.03 * 0.002) / 3)        # 4.60072e-3
    assert out["L"].iloc[:4].isna().all()                                    # fewer than K−1 returns before
    assert out["sigma_hat"].iloc[4:7].tolist() == pytest.approx([s4, s5, s6])
    assert out["L"].iloc[4:7].tolist() == pytest.approx([0.002 / s4, 0.03 / s5, -0.0005 / s6])
    assert round(out["L"].iloc[5], 2) == 20.38 and round(out["L"].iloc[4], 4) == 1.3587
    assert out["jump"].tolist() == [False] * 5 + [True, False, False]
    assert out["critical"].iloc[0] == pytest.approx(5.3522, abs=1e-4)
    cn, sn = lm_constants(240)
    assert out["p_value"].iloc[5] == pytest.approx(1 - math.exp(-math.exp(-(0.03 / s5 - cn) / sn)))
    # a missing return is skipped, not treated as zero: the later statistics do not change
    gap = pd.Series([0.001, -0.002, np.nan, 0.0015, -0.001, 0.002, 0.03, -0.0005, 0.001])
    g = lee_mykland(gap, n_per_day=240, K=5)
    assert np.isnan(g["L"].iloc[2])
    assert g["L"].iloc[5:].tolist() == pytest.approx(out["L"].iloc[4:].tolist())
    assert len(lee_mykland(r, 240)["L"].dropna()) == 0                       # default K = 245 needs history


def test_lee_mykland_detector_finds_the_planted_cliffs_and_deseasonalising_quiets_the_open(seeded):
    bars, truth, _ = seeded
    res = make_detector("lee_mykland").detect(bars)
    day = truth["day"].dt.date.iloc[0]
    on = res[res["start"].dt.date == day]
    hm = on["start"].dt.strftime("%H:%M")
    assert on[hm.isin(["13:01", "13:02", "13:03"])]["symbol"].nunique() >= 190
    assert (on[hm.isin(["13:01", "13:02", "13:03"])]["magnitude"] < 0).all()
    r = res.iloc[0]
    assert r["kind"] == "jump" and r["start"] == r["end"] and abs(r["score"]) > r["details"]["critical"]
    assert r["details"]["K"] == 245 and r["details"]["n"] == 240
    calm = bars[bars["ts"].dt.date != day]
    raw = make_detector("lee_mykland", deseasonalize=False).detect(calm)
    adj = res[res["start"].dt.date != day]
    at_open = lambda f: f["start"].dt.strftime("%H:%M").isin(EDGES).sum()  # noqa: E731
    assert at_open(raw) > 5 * max(at_open(adj), 1)
