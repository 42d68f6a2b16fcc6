"""Session-aware minute returns, bar validation and the time-of-day profile (anomaly.intraday).

Frames marked SYNTHETIC come from anomaly.simulate (seeded, not market data); the rest are tiny
literal series written out here.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from anomaly.errors import BadInput
from anomaly.intraday import (default_shape, infer_freq, path_arrays, profile_arrays, running_level,
                              session_returns, slot_table, to_panel, tod_profile, validate_intraday)
from anomaly.simulate import simulate_market

TZ = "Asia/Shanghai"


def bars_at(rows, symbol="002230", prev_close=59.09, tz=TZ):
    """Literal bars: rows = [(\"2023-05-24 09:31\", open, high, low, close[, volume]), ...]."""
    recs = []
    for r in rows:
        ts, o, h, l, c = r[:5]
        v = r[5] if len(r) > 5 else 1000.0
        recs.append(dict(symbol=symbol, ts=ts, open=o, high=h, low=l, close=c, prev_close=prev_close,
                         volume=v, amount=v * c))
    df = pd.DataFrame(recs)
    df["ts"] = pd.to_datetime(df["ts"])
    if tz:
        df["ts"] = df["ts"].dt.tz_localize(tz)
    return df


DAY = "2023-05-24"
CALM = [(f"{DAY} 09:31", 59.08, 59.2, 59.0, 59.1), (f"{DAY} 09:32", 59.1, 59.2, 59.0, 59.15),
        (f"{DAY} 11:30", 59.2, 59.3, 59.1, 59.2), (f"{DAY} 13:01", 59.0, 59.1, 58.9, 59.05),
        (f"{DAY} 13:02", 59.05, 59.1, 59.0, 59.1), (f"{DAY} 14:57", 58.0, 58.1, 57.9, 58.0),
        (f"{DAY} 14:58", 58.0, 58.0, 58.0, 58.0, 0.0), (f"{DAY} 14:59", 58.0, 58.0, 58.0, 58.0, 0.0),
        (f"{DAY} 15:00", 58.3, 58.3, 58.3, 58.3)]


# --- slot layout --------------------------------------------------------------------------------


def test_slot_tables():
    one, five = slot_table("1min"), slot_table("5min")
    assert (one.n, one.first_pm, five.n, five.first_pm) == (240, 120, 48, 24)
    assert (one.labels[0], one.labels[119], one.labels[120], one.labels[-1]) == ("09:31", "11:30", "13:01", "15:00")
    assert list(np.array(one.labels)[one.flat]) == ["14:58", "14:59"]
    assert not five.flat.any()
    assert (one.phase[0], one.phase[120], one.phase[-1], five.phase[-1]) == ("open", "reopen", "close_auction", "close")


def test_default_shape_is_a_u_with_two_opens():
    for freq in ("1min", "5min"):
        g = default_shape(freq)
        s = slot_table(freq)
        assert g.mean() == pytest.approx(1.0)
        mid = np.median(g[30 // s.minutes: 110 // s.minutes])
        assert g[0] > 3 * mid                       # the 09:30 open
        assert g[s.first_pm] > 1.5 * mid            # the 13:00 reopen
    assert (default_shape("1min")[slot_table("1min").flat] == 0).all()   # closing call: no trading


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stamp, freq, message", [
    (f"{DAY} 12:00", "1min", "bars row 3 (002230 2023-05-24 12:00+08:00): 12:00 is in the lunch break (11:30–13:00)"),
    (f"{DAY} 13:00", "1min", "bars row 3 (002230 2023-05-24 13:00+08:00): 13:00 is the afternoon open, not a bar end "
                             "(the first afternoon 1min bar ends 13:01)"),
    (f"{DAY} 08:59", "1min", "bars row 3 (002230 2023-05-24 08:59+08:00): 08:59 is outside the trading sessions"),
    (f"{DAY} 15:01", "1min", "bars row 3 (002230 2023-05-24 15:01+08:00): 15:01 is outside the trading sessions"),
    (f"{DAY} 09:33", "5min", "bars row 3 (002230 2023-05-24 09:33+08:00): 09:33 is not a 5min bar end"),
    ("2023-05-27 10:00", "1min", "bars row 3 (002230 2023-05-27 10:00+08:00): 2023-05-27 is a Saturday"),
    ("2023-06-22 10:00", "1min", "bars row 3 (002230 2023-06-22 10:00+08:00): 2023-06-22 is an exchange holiday"),
])
def test_bad_bar_is_named_with_row_and_reason(stamp, freq, message):
    base = [(f"{DAY} 09:35", 59.0, 59.1, 58.9, 59.0), (f"{DAY} 09:40", 59.0, 59.1, 58.9, 59.0)]
    df = bars_at(base + [(stamp, 59.0, 59.1, 58.9, 59.0)])
    with pytest.raises(BadInput) as exc:
        validate_intraday(df, freq)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_duplicate_and_naive_timestamps():
    df = bars_at(CALM[:2] + [CALM[1]])
    with pytest.raises(BadInput, match=r"^bars row 3 \(002230 2023-05-24 09:32\+08:00\): duplicate timestamp"):
        validate_intraday(df, "1min")
    with pytest.raises(BadInput, match="naive timestamps"):
        validate_intraday(bars_at(CALM, tz=None), "1min")


def test_drop_mode_warns_once_and_keeps_the_good_rows():
    df = bars_at(CALM[:2] + [(f"{DAY} 12:00", 59, 59, 59, 59), CALM[1], ("2023-05-27 10:00", 59, 59, 59, 59)]
                 + CALM[2:])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = validate_intraday(df, "1min", on_bad="drop")
    assert len(w) == 1
    msg = str(w[0].message)
    assert "dropped 3 bar(s)" in msg and "1 in the lunch break" in msg and "1 duplicate" in msg
    assert "1 on a non-trading day" in msg
    assert len(out) == len(CALM)
    assert out["ts"].is_monotonic_increasing


def test_timezone_other_than_shanghai_is_converted():
    df = bars_at(CALM)
    df["ts"] = df["ts"].dt.tz_convert("UTC")
    out = validate_intraday(df, "1min")
    assert str(out["ts"].dt.tz) == TZ and out["ts"].iloc[0] == pd.Timestamp(f"{DAY} 09:31", tz=TZ)


def test_opening_auction_print_is_folded_into_the_first_bar():
    rows = [(f"{DAY} 09:25", 59.08, 59.08, 59.08, 59.08, 5000.0)] + CALM
    out = validate_intraday(bars_at(rows), "1min")
    first = out.iloc[0]
    assert len(out) == len(CALM)
    assert first["ts"] == pd.Timestamp(f"{DAY} 09:31", tz=TZ)
    assert (first["open"], first["close"], first["volume"]) == (59.08, 59.1, 6000.0)
    # a 09:30 print with no 09:31 bar becomes that bar
    rows = [(f"{DAY} 09:30", 59.0, 59.0, 59.0, 59.0, 700.0)] + CALM[1:]
    out = validate_intraday(bars_at(rows), "1min")
    assert out.iloc[0]["ts"] == pd.Timestamp(f"{DAY} 09:31", tz=TZ) and out.iloc[0]["volume"] == 700.0


def test_prev_close_is_derived_from_the_previous_trading_day():
    d1 = [("2023-05-23 15:00", 59.0, 59.1, 58.9, 59.09)]
    df = pd.concat([bars_at(d1, prev_close=58.0), bars_at(CALM[:2], prev_close=np.nan)], ignore_index=True)
    out = validate_intraday(df, "1min")
    assert out["prev_close"].tolist() == [58.0, 59.09, 59.09]


def test_infer_freq():
    assert infer_freq(bars_at(CALM)) == "1min"
    five = bars_at([(f"{DAY} 09:35", 1, 1, 1, 1), (f"{DAY} 09:40", 1, 1, 1, 1), (f"{DAY} 13:05", 1, 1, 1, 1)])
    assert infer_freq(five) == "5min"


# --- session returns ----------------------------------------------------------------------------


def test_session_returns_never_cross_lunch_or_night_and_handle_the_closing_call():
    r = session_returns(bars_at(CALM), "1min").set_index(
        pd.Index([t[11:16] for t, *_ in CALM]))
    ln = math.log
    expect_ret = {
        "09:31": ln(59.1 / 59.08),           # first bar from its own open: no overnight return
        "09:32": ln(59.15 / 59.1),
        "11:30": ln(59.2 / 59.15),           # spans the missing 09:33..11:29 bars
        "13:01": ln(59.05 / 59.0),           # from the 13:00 open, not from the 11:30 close
        "13:02": ln(59.1 / 59.05),
        "15:00": ln(58.3 / 58.0),            # the auction move, from the 14:57 close
    }
    for hm, v in expect_ret.items():
        assert r.loc[hm, "ret"] == pytest.approx(v), hm
    assert np.isnan(r.loc["14:58", "ret"]) and np.isnan(r.loc["14:59", "ret"])
    assert r.loc["09:31", "gap"] == pytest.approx(ln(59.08 / 59.09))     # overnight gap
    assert r.loc["13:01", "gap"] == pytest.approx(ln(59.0 / 59.2))       # lunch gap
    assert r.loc["13:01", "inc"] == pytest.approx(ln(59.05 / 59.2))      # path increment keeps the gap
    assert r.loc["14:58", "inc"] == 0.0
    assert r["phase"].tolist() == ["open", "continuous", "continuous", "reopen", "continuous", "continuous",
                                   "closing_call", "closing_call", "close_auction"]


def test_session_returns_on_synthetic_day_have_no_cross_session_return():
    bars, _ = simulate_market(3, 2, seed=1)          # SYNTHETIC
    r = session_returns(bars, "1min")
    assert len(r) == 3 * 2 * 240
    opens = r[r["phase"].isin(["open", "reopen"])].index
    b = validate_intraday(bars, "1min")
    own = np.log(b.loc[opens, "close"] / b.loc[opens, "open"])
    assert np.allclose(r.loc[opens, "ret"], own)


# --- time-of-day profile ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calm():
    """SYNTHETIC: 40 symbols × 25 calm days."""
    bars, _ = simulate_market(40, 25, seed=21)
    p = to_panel(validate_intraday(bars, "1min"), "1min")
    return bars, p, path_arrays(p)


def test_profile_uses_only_earlier_days(calm):
    bars, p, a = calm
    full = profile_arrays(p, a, 20)
    days = sorted(bars["ts"].dt.date.unique())
    cut = bars[bars["ts"].dt.date <= days[14]]
    p2 = to_panel(validate_intraday(cut, "1min"), "1min")
    part = profile_arrays(p2, path_arrays(p2), 20)
    np.testing.assert_allclose(part.shape, full.shape[:, :15])
    np.testing.assert_allclose(part.level, full.level[:, :15])
    # changing day 10 changes nothing up to day 10, only later days
    wild = bars.copy()
    on10 = wild["ts"].dt.date == days[10]
    wild.loc[on10, ["open", "high", "low", "close"]] *= 1.0 + 0.02 * np.sign(np.sin(np.arange(on10.sum())))[:, None]
    wild.loc[on10, "high"] = wild.loc[on10, ["open", "high", "close"]].max(axis=1)
    wild.loc[on10, "low"] = wild.loc[on10, ["open", "low", "close"]].min(axis=1)
    p3 = to_panel(validate_intraday(wild, "1min"), "1min")
    w = profile_arrays(p3, path_arrays(p3), 20)
    np.testing.assert_allclose(w.level[:, :11], full.level[:, :11])
    assert not np.allclose(w.level[:, 11], full.level[:, 11])


def test_profile_without_history_falls_back_to_default_shape(calm):
    _, p, a = calm
    prof = profile_arrays(p, a, 20)
    assert (prof.n_days[:, 0] == 0).all() and np.isnan(prof.level[:, 0]).all()
    np.testing.assert_allclose(prof.shape[:, 0], np.broadcast_to(default_shape("1min"), prof.shape[:, 0].shape))
    assert (prof.n_days[:, 20:] == 20).all()


def test_profile_learns_the_simulated_u_shape(calm):
    from anomaly.simulate import _sim_shape
    _, p, a = calm
    prof = profile_arrays(p, a, 20)
    learned = np.sqrt(prof.shape[:, 20:].mean(axis=(0, 1)))
    true = _sim_shape()
    live = true > 0
    assert np.corrcoef(learned[live], true[live])[0, 1] > 0.95
    for j in (0, 120, 239):                                    # 09:31, 13:01, 15:00
        assert learned[j] == pytest.approx(true[j], rel=0.15)
    # the level on day 20 summarises days 0..19 of each stock: compare with their plain realised vol
    realised = np.sqrt(np.nansum(a.ret[:, :20] ** 2, axis=2)).mean(axis=1)
    assert np.corrcoef(prof.daily_vol[:, 20], realised)[0, 1] > 0.95
    assert np.median(prof.daily_vol[:, 20] / realised) == pytest.approx(1.0, abs=0.15)


def test_profile_level_is_robust_to_a_cliff(calm):
    bars, p, a = calm
    days = sorted(bars["ts"].dt.date.unique())
    hit = bars.copy()
    sel = (hit["symbol"] == hit["symbol"].iloc[0]) & (hit["ts"].dt.date == days[15])
    idx = np.flatnonzero(sel.to_numpy())
    after = idx[120:]                                           # from 13:01 on: −9 % and stay there
    hit.loc[hit.index[after], ["open", "high", "low", "close"]] *= 0.91
    p2 = to_panel(validate_intraday(hit, "1min"), "1min")
    a2 = path_arrays(p2)
    base, cliff = profile_arrays(p, a, 20), profile_arrays(p2, a2, 20)
    robust = cliff.level[0, 16] / base.level[0, 16]
    naive = lambda arr: np.sqrt(np.nanmean(arr.inc[0, :16][arr.est[0, :16]] ** 2))  # noqa: E731
    assert abs(robust - 1) < 0.05                                # trimmed: the cliff hardly counts
    assert naive(a2) / naive(a) > 1.3                            # a plain RMS is blown up


def test_tod_profile_frame_and_running_level(calm):
    bars, _, _ = calm
    one = bars[bars["symbol"] == bars["symbol"].iloc[0]]
    prof = tod_profile(one, "1min")
    f = prof.to_frame()
    assert len(f) == 25 * 240 and list(f.columns) == ["symbol", "date", "slot", "time", "shape", "sigma",
                                                     "daily_vol", "n_days"]
    inc = np.array([[[0.001, -0.002, 0.0, 0.05]]])
    lev = running_level(inc, np.ones_like(inc, bool), np.ones_like(inc), np.array([[0.001]]),
                        np.array([[2.0]]))
    # (2·1e-6 + 1e-6) / 3, then + 4e-6 / 4, then + 0 / 5, then the 5 % jump capped at (5·0.001)²
    np.testing.assert_allclose(lev[0, 0] ** 2, [1e-6, 3e-6 / 3, 7e-6 / 4, 7e-6 / 5, 32e-6 / 6])
