"""Event study: AR/CAR with prediction-error variance against a hand computation; CAAR, BMP, sign test."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from anomaly import calendar
from anomaly.errors import BadInput
from anomaly.eventstudy import caar, caar_stats, event_study

DAYS = calendar.trading_days("2023-01-03", "2023-04-28")   # 76 trading days


def _bars(symbol: str, days, rets, start: float) -> pd.DataFrame:
    rets = np.asarray(rets, dtype=float)
    close = start * np.cumprod(1 + rets)
    prev = np.r_[start, close[:-1]]
    return pd.DataFrame({
        "symbol": symbol, "ts": calendar.daily_ts(days), "open": prev, "high": np.maximum(prev, close) * 1.001,
        "low": np.minimum(prev, close) * 0.999, "close": close, "prev_close": prev, "volume": 1e6,
        "amount": 1e7, "turnover": np.nan})


def _market(n: int) -> np.ndarray:
    t = np.arange(n)
    return 0.01 * np.sin(0.7 * t) + 0.002 * np.cos(2.1 * t)


def _stock(m: np.ndarray) -> np.ndarray:
    t = np.arange(len(m))
    return 0.0005 + 1.3 * m + 0.006 * np.cos(1.3 * t + 0.4)


def _setup(event_pos=60, shock=-0.05):
    m = _market(len(DAYS))
    s = _stock(m)
    s[event_pos] += shock
    return (_bars("002230", DAYS, s, 50.0), _bars("399001.SZ", DAYS, m, 10000.0), m, s)


def _hand(m, s, pos0, est, window):
    """Textbook market model: OLS over the estimation rows, CAR variance with prediction error."""
    idx = np.arange(pos0 + est[0], pos0 + est[1] + 1)
    x, y = m[idx], s[idx]
    n = len(x)
    xbar, ybar = x.mean(), y.mean()
    sxx = ((x - xbar) ** 2).sum()
    beta = ((x - xbar) * (y - ybar)).sum() / sxx
    alpha = ybar - beta * xbar
    resid = y - alpha - beta * x
    sigma2 = (resid ** 2).sum() / (n - 2)
    w = np.arange(pos0 + window[0], pos0 + window[1] + 1)
    ar = s[w] - alpha - beta * m[w]
    L = len(w)
    var = sigma2 * (L + L * L / n + ((m[w] - xbar).sum()) ** 2 / sxx)
    car = ar.sum()
    t = car / math.sqrt(var)
    return dict(alpha=alpha, beta=beta, sigma=math.sqrt(sigma2), n=n, car=car, t=t,
                p=2 * stats.t.sf(abs(t), n - 2))


def test_event_study_matches_hand_computation():
    bars, idx, m, s = _setup()
    est = (-40, -11)
    res = event_study("002230", DAYS[60], bars, idx, "399001.SZ", est=est, min_est=20)
    for win in ((0, 0), (-1, 1), (0, 5)):
        h = _hand(m, s, 60, est, win)
        got = next(w for w in res["windows"] if w["window"] == f"[{win[0]},{win[1]}]")
        assert got["car"] == pytest.approx(h["car"], abs=2e-6)
        assert got["t"] == pytest.approx(h["t"], abs=2e-4)
        assert got["p"] == pytest.approx(h["p"], abs=2e-6)
        assert got["n_days"] == got["n_days_expected"] == win[1] - win[0] + 1 and got["complete"]
    h = _hand(m, s, 60, est, (0, 0))
    e = res["estimation"]
    assert e["n"] == h["n"] == 30
    assert e["beta"] == pytest.approx(h["beta"], abs=2e-6)
    assert e["alpha"] == pytest.approx(h["alpha"], abs=2e-8)
    assert e["sigma"] == pytest.approx(h["sigma"], abs=2e-8)
    assert e["start"] == str(DAYS[20].date()) and e["end"] == str(DAYS[49].date())
    # the planted −5 % shock shows as a significant negative day-0 AR
    w0 = res["windows"][0]
    assert w0["car"] == pytest.approx(-0.05 + (s[60] + 0.05 - h["alpha"] - h["beta"] * m[60]), abs=2e-6)
    assert w0["t"] < -3
    days = {d["day"]: d for d in res["days"]}
    assert sorted(days) == list(range(-1, 6))
    assert res["recovery"]["ar0"] == pytest.approx(w0["car"], abs=1e-6)
    car_after = sum(days[k]["ar"] for k in range(1, 6))
    assert res["recovery"]["car_after"] == pytest.approx(car_after, abs=1e-5)
    assert res["recovery"]["fraction"] == pytest.approx(-car_after / w0["car"], abs=1e-4)


def test_window_past_the_data_is_reported_honestly():
    bars, idx, m, s = _setup(event_pos=len(DAYS) - 3)
    res = event_study("002230", DAYS[-3], bars, idx, "399001.SZ", est=(-40, -11), min_est=20)
    w = next(w for w in res["windows"] if w["window"] == "[0,5]")
    assert w["n_days"] == 3 and w["n_days_expected"] == 6 and w["complete"] is False
    assert w["end"] == str(DAYS[-1].date())
    h = _hand(m, s, len(DAYS) - 3, (-40, -11), (0, 2))
    assert w["car"] == pytest.approx(h["car"], abs=2e-6) and w["t"] == pytest.approx(h["t"], abs=2e-4)


def test_suspension_day_and_the_day_after_leave_the_estimation():
    bars, idx, m, s = _setup()
    gap = DAYS[35]
    b = bars[bars["ts"].dt.date != gap.date()].copy()
    nxt = b["ts"].dt.date == DAYS[36].date()
    b.loc[nxt, "prev_close"] = bars["close"].iloc[34]     # the close before the suspension
    res = event_study("002230", DAYS[60], b, idx, "399001.SZ", est=(-40, -11), min_est=20)
    assert res["estimation"]["n"] == 28


def test_event_study_errors():
    bars, idx, _, _ = _setup()
    with pytest.raises(BadInput, match="no bars for benchmark 000300.SH"):
        event_study("002230", DAYS[60], bars, idx, "000300.SH")
    with pytest.raises(BadInput, match="supply longer history"):
        event_study("002230", DAYS[60], bars, idx, "399001.SZ", est=(-250, -11), min_est=60)
    with pytest.raises(BadInput, match="not a trading day"):
        event_study("002230", "2023-04-01", bars, idx, "399001.SZ", est=(-40, -11), min_est=20)


def test_bmp_cross_sectional_and_sign_by_hand():
    cars = [0.02, 0.01, 0.05, -0.01]
    scars = [2.0, 1.0, 3.0, -0.5]
    r = caar_stats(cars, scars)
    # CAAR = 0.0175; s = sqrt((0.0025² + 0.0075² + 0.0325² + 0.0275²)/3) = sqrt(0.000625) = 0.025
    assert r["caar"] == pytest.approx(0.0175)
    assert r["t_cs"] == pytest.approx(0.0175 / (0.025 / 2), abs=1e-4)          # 1.4
    assert r["p_cs"] == pytest.approx(2 * stats.t.sf(1.4, 3), abs=1e-6)
    # BMP: mean SCAR 1.375; s_SCAR = sqrt((0.625² + 0.375² + 1.625² + 1.875²)/3) = sqrt(6.6875/3)
    t_bmp = 1.375 * 2 / math.sqrt(6.6875 / 3)
    assert t_bmp == pytest.approx(1.841880, abs=1e-6)
    assert r["mean_scar"] == pytest.approx(1.375)
    assert r["t_bmp"] == pytest.approx(t_bmp, abs=1e-4)
    assert r["p_bmp"] == pytest.approx(2 * stats.t.sf(t_bmp, 3), abs=1e-6)
    # sign test: 3 positive of 4 → two-sided binomial p = 2 · (C(4,3) + C(4,4)) / 16 = 0.625
    assert r["sign"] == {"n_pos": 3, "n_neg": 1, "p": 0.625}


def test_caar_over_event_dicts():
    def es(car, t, complete=True):
        return {"windows": [{"window": "[0,0]", "car": car, "t": t, "complete": complete},
                            {"window": "[0,5]", "car": car / 2, "t": t / 2, "complete": complete}]}
    events = [{"event_study": es(0.02, 2.0)}, {"event_study": es(0.01, 1.0)}, {"event_study": None},
              es(0.05, 3.0), {"event_study": es(-0.01, -0.5)}, {"event_study": es(0.9, 9.0, complete=False)}]
    res = caar(events)
    assert res["n_events"] == 5
    w0 = res["windows"][0]
    assert w0["window"] == "[0,0]" and w0["n"] == 4 and w0["skipped"] == 1
    assert w0["t_bmp"] == pytest.approx(1.841880, abs=1e-4)
    w5 = res["windows"][1]
    assert w5["caar"] == pytest.approx(0.0175 / 2) and w5["t_bmp"] == pytest.approx(1.841880, abs=1e-4)
    single = caar([es(0.02, 2.0)])["windows"][0]
    assert single["n"] == 1 and single["t_bmp"] is None and single["t_cs"] is None


def test_real_sample_002230():
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    res = event_study("002230", "2023-05-24", b[b["symbol"] == "002230"], b[b["symbol"] == "399001.SZ"],
                      "399001.SZ")
    day0 = next(d for d in res["days"] if d["day"] == 0)
    assert day0["ret"] == pytest.approx(56.57 / 59.09 - 1, abs=1e-6)
    assert res["estimation"]["n"] >= 200 and res["benchmark_name"] == "深证成指"
    w0 = res["windows"][0]
    assert -0.05 < w0["car"] < -0.02 and w0["t"] < 0


# --- the array implementation against the shared estimator and other inputs ------------------------

@pytest.fixture(scope="module")
def panel():
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    return {s: g for s, g in b.groupby("symbol", sort=False)}


@pytest.mark.parametrize("symbol, day, bench", [
    ("002230", "2023-05-24", "399001.SZ"),      # the defining case
    ("002230", "2023-10-24", "399001.SZ"),      # a limit-down touch in the estimation window later on
    ("600031", "2024-09-30", "000001.SH"),      # a market-wide rally day, Shanghai main board
    ("300033", "2024-02-06", "399001.SZ"),      # ChiNext (20 % limits)
    ("688001", "2024-10-08", "000001.SH"),      # STAR
])
def test_estimate_agrees_with_marketmodel_fit_event(panel, symbol, day, bench):
    """α, β, σ, n and the estimation span equal ``fit_event`` given the same exclusions."""
    from anomaly.eventstudy import daily_returns
    from anomaly.marketmodel import fit_event, limit_hit_days

    res = event_study(symbol, day, panel[symbol], panel[bench], bench)
    s, m = daily_returns(panel[symbol], symbol), daily_returns(panel[bench], bench)
    frame = m[["ret"]].rename(columns={"ret": "mret"}).join(s, how="left")
    traded = frame["close"].notna().to_numpy()
    exclude = (np.r_[False, ~traded[:-1]] & traded) | limit_hit_days(panel[symbol], symbol).reindex(
        frame.index).fillna(False).to_numpy(bool)
    ref = fit_event(frame["ret"], frame["mret"], day, exclude=pd.Series(exclude, index=frame.index),
                    benchmark=bench)["estimation"]
    est = res["estimation"]
    assert (est["n"], est["start"], est["end"]) == (ref["n"], ref["start"], ref["end"])
    assert est["alpha"] == pytest.approx(ref["alpha"], abs=1e-8)
    assert est["beta"] == pytest.approx(ref["beta"], abs=1e-6)
    assert est["sigma"] == pytest.approx(ref["sigma"], abs=1e-8)
    day0 = next(d for d in res["days"] if d["day"] == 0)
    assert day0["ar"] == pytest.approx(day0["ret"] - ref["alpha"] - ref["beta"] * day0["index_ret"], abs=2e-6)


def test_same_result_whatever_the_timestamp_unit_and_row_order(panel):
    """Bars read from Parquet may carry s/ms/us timestamps and arrive unsorted; days must still align."""
    from anomaly.eventstudy import daily_returns

    stock, index = panel["002230"], panel["399001.SZ"]
    ref = event_study("002230", "2023-05-24", stock, index, "399001.SZ")
    other = stock.assign(ts=stock["ts"].dt.as_unit("s")).sample(frac=1.0, random_state=3)
    bench = daily_returns(index, "399001.SZ")
    bench.index = bench.index.as_unit("us")
    assert event_study("002230", "2023-05-24", other, index, "399001.SZ", benchmark_returns=bench) == ref


def test_bars_of_several_symbols_are_filtered(panel):
    both = pd.concat([panel["399001.SZ"], panel["002230"]], ignore_index=True)
    assert (event_study("002230", "2023-05-24", both, None, "399001.SZ")
            == event_study("002230", "2023-05-24", panel["002230"], panel["399001.SZ"], "399001.SZ"))


def test_estimation_window_reaching_past_the_data_uses_what_there_is(panel):
    idx = panel["399001.SZ"]
    last_days = idx["ts"].iloc[-5]
    res = event_study("002230", last_days, panel["002230"], idx, "399001.SZ", est=(-100, 10), min_est=20)
    assert 0 < res["estimation"]["n"] <= 105
    assert res["estimation"]["end"] == str(idx["ts"].iloc[-1].date())


def test_a_stock_against_itself_has_no_test_statistic(panel):
    idx = panel["399001.SZ"]
    res = event_study("399001.SZ", "2023-05-24", idx, idx, "399001.SZ")
    w0 = res["windows"][0]
    assert w0["car"] == pytest.approx(0.0, abs=1e-9) and w0["t"] is None and w0["p"] is None


def test_flat_benchmark_is_bad_input_naming_the_event(panel):
    from anomaly.eventstudy import daily_returns

    flat = daily_returns(panel["399001.SZ"], "399001.SZ").assign(ret=0.001)
    with pytest.raises(BadInput, match=r"event study of 002230 on 2023-05-24: the market returns do not vary"):
        event_study("002230", "2023-05-24", panel["002230"], None, "399001.SZ", benchmark_returns=flat)


def test_naive_stock_timestamps_are_bad_input(panel):
    naive = panel["002230"].assign(ts=panel["002230"]["ts"].dt.tz_localize(None))
    with pytest.raises(BadInput, match="naive timestamps"):
        event_study("002230", "2023-05-24", naive, panel["399001.SZ"], "399001.SZ")


def test_a_bar_far_in_the_future_does_not_break_the_day_arithmetic(panel):
    """A corrupt bar dated 2300 (beyond nanosecond timestamps) is off the benchmark calendar: ignored."""
    stock = panel["002230"]
    future = stock.tail(1).assign(ts=pd.Timestamp("2300-01-02 15:00", tz="Asia/Shanghai"))
    both = pd.concat([stock.assign(ts=stock["ts"].dt.as_unit("us")), future.assign(ts=future["ts"].dt.as_unit("us"))])
    ref = event_study("002230", "2023-05-24", stock, panel["399001.SZ"], "399001.SZ")
    assert event_study("002230", "2023-05-24", both, panel["399001.SZ"], "399001.SZ") == ref


def test_unsorted_benchmark_returns_are_sorted_first(panel):
    from anomaly.eventstudy import daily_returns

    bench = daily_returns(panel["399001.SZ"], "399001.SZ")
    ref = event_study("002230", "2023-05-24", panel["002230"], None, "399001.SZ", benchmark_returns=bench)
    shuffled = bench.sample(frac=1.0, random_state=5)
    assert event_study("002230", "2023-05-24", panel["002230"], None, "399001.SZ", benchmark_returns=shuffled) == ref
