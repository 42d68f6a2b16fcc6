"""Market model: the vectorised panel estimator against statsmodels OLS on real 002230 / 399001 data,
the per-event ``fit_event`` (AR, CAR, prediction-error variance) and the panel helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from anomaly.errors import BadInput
from anomaly.marketmodel import (daily_inputs, fit_event, limit_hit_days, market_model_panel, returns_series,
                                 wide_panel)

EST = (-250, -11)


@pytest.fixture(scope="module")
def bars():
    from anomaly.sources.sample import sample_daily_bars

    return sample_daily_bars()


@pytest.fixture(scope="module")
def series(bars):
    y = returns_series(bars, "002230")
    x = returns_series(bars, "399001.SZ").reindex(y.index)
    ex = limit_hit_days(bars, "002230").reindex(y.index).fillna(False).astype(bool)
    return y, x, ex


def _ols(y, x, ex, pos):
    rows = np.arange(pos + EST[0], pos + EST[1] + 1)
    rows = rows[(rows >= 0) & ~ex.to_numpy()[rows] & np.isfinite(y.to_numpy()[rows])]
    res = sm.OLS(y.to_numpy()[rows], sm.add_constant(x.to_numpy()[rows])).fit()
    return res, rows


@pytest.mark.parametrize("date", ["2023-05-24", "2023-10-24", "2022-03-15", "2024-02-05", "2021-06-01"])
def test_panel_equals_statsmodels_ols(series, date):
    y, x, ex = series
    out = market_model_panel(y.to_frame(), x.to_numpy(), est=EST, exclude=ex.to_frame().to_numpy(), min_obs=120)
    pos = y.index.get_loc(pd.Timestamp(date))
    res, rows = _ols(y, x, ex, pos)
    g = {k: float(v.iloc[pos, 0]) for k, v in out.items()}
    assert g["n"] == res.nobs == len(rows)
    assert g["alpha"] == pytest.approx(res.params[0], abs=1e-10)
    assert g["beta"] == pytest.approx(res.params[1], rel=1e-8)
    assert g["sigma2"] == pytest.approx(res.scale, rel=1e-8)
    # event day: AR and the prediction-error variance σ²(1 + 1/n + (x0 − x̄)²/Sxx) = statsmodels' se_obs²
    pred = res.get_prediction(np.array([[1.0, x.iloc[pos]]]))
    assert g["ar"] == pytest.approx(y.iloc[pos] - pred.predicted_mean[0], abs=1e-10)
    assert g["var_pred"] == pytest.approx(pred.se_obs[0] ** 2, rel=1e-8)
    from scipy import stats
    assert g["p"] == pytest.approx(2 * stats.t.sf(abs(g["t"]), res.df_resid), rel=1e-8)
    # market-adjusted variant: s.d. of (R − Rm) over the same rows
    d = (y - x).to_numpy()[rows]
    assert g["mar"] == pytest.approx(y.iloc[pos] - x.iloc[pos], abs=1e-12)
    assert g["mar_sigma"] == pytest.approx(d.std(ddof=1), rel=1e-8)


def test_fit_event_2023_05_24(series):
    y, x, ex = series
    r = fit_event(y, x, "2023-05-24", exclude=ex, benchmark="399001.SZ")
    assert r["benchmark"] == "399001.SZ" and r["event_day"] == "2023-05-24"
    assert -0.045 <= r["ar"] <= -0.025                       # AR against 399001: about −3.4 %
    assert abs(r["t"]) < 1.96 and r["p"] > 0.05              # the close alone is not significant
    assert r["stock_return"] == pytest.approx(-0.0426, abs=5e-4)
    assert r["market_return"] == pytest.approx(-0.0084, abs=5e-4)
    e = r["estimation"]
    assert e["n"] >= 200 and e["dof"] == e["n"] - 2 and e["window"] == [-250, -11]
    assert e["start"] < e["end"] < "2023-05-24"
    pos = y.index.get_loc(pd.Timestamp("2023-05-24"))
    res, rows = _ols(y, x, ex, pos)
    assert e["beta"] == pytest.approx(res.params[1], rel=1e-8)
    assert e["sigma"] == pytest.approx(np.sqrt(res.scale), rel=1e-8)
    # panel and fit_event agree
    out = market_model_panel(y.to_frame(), x.to_numpy(), exclude=ex.to_frame().to_numpy())
    assert r["t"] == pytest.approx(float(out["t"].iloc[pos, 0]), rel=1e-9)
    # CAR windows: Var(CAR) = L·σ² + aᵀ Cov(b) a with a = Σ (1, x_τ) over the window
    cov = res.cov_params()
    for w in r["windows"]:
        a, b = (int(v) for v in w["window"].strip("[]").split(","))
        taus = np.arange(pos + a, pos + b + 1)
        xs = x.to_numpy()[taus]
        ar = y.to_numpy()[taus] - (res.params[0] + res.params[1] * xs)
        vec = np.array([len(taus), xs.sum()])
        var = len(taus) * res.scale + vec @ cov @ vec
        assert w["car"] == pytest.approx(ar.sum(), abs=1e-10)
        assert w["se"] == pytest.approx(np.sqrt(var), rel=1e-8)
        assert w["t"] == pytest.approx(ar.sum() / np.sqrt(var), rel=1e-8)
        assert w["complete"] and w["days"] == len(taus)
    assert [w["window"] for w in r["windows"]] == ["[0,0]", "[-1,1]", "[0,5]"]
    assert len(r["daily"]) == 7 and r["daily"][0]["tau"] == -1


def test_fit_event_edges(series):
    y, x, ex = series
    with pytest.raises(BadInput):
        fit_event(y, x, "2023-05-27")                        # a Saturday: not an index day
    short = fit_event(y.loc["2020-01-01":], x.loc["2020-01-01":], "2020-02-10")
    assert short["error"] and short["ar"] is None and short["estimation"]["n"] < 60
    # windows past the data are reported incomplete, not invented
    last = fit_event(y, x, "2024-12-30", windows=((0, 5),), exclude=ex)
    assert last["windows"][0]["days"] == 2 and not last["windows"][0]["complete"]
    # a suspended event day: no AR, but the estimation is still stated
    y2 = y.copy()
    y2.loc["2023-05-24"] = np.nan
    s = fit_event(y2, x, "2023-05-24", exclude=ex)
    assert s["ar"] is None and s["estimation"]["n"] > 200


def test_panel_dataframe_shapes_min_obs_and_exclusions():
    rng = np.random.default_rng(3)
    T, N = 400, 3
    x = rng.normal(0, 0.01, T)
    beta = np.array([0.5, 1.0, 1.5])
    y = 0.001 + x[:, None] * beta + rng.normal(0, 0.02, (T, N))
    idx = pd.date_range("2020-01-01", periods=T)
    out = market_model_panel(pd.DataFrame(y, index=idx), x, min_obs=200)
    assert isinstance(out["beta"], pd.DataFrame) and out["beta"].shape == (T, N)
    assert out["beta"].iloc[:209].isna().all().all()         # window [t−250, t−11] has < 200 rows
    assert np.allclose(out["beta"].iloc[-1].to_numpy(), beta, atol=0.3)
    # excluding a day is the same as deleting it from the window
    ex = np.zeros((T, N), dtype=bool)
    ex[300, :] = True
    a = market_model_panel(y, x, exclude=ex)
    yy = y.copy()
    yy[300] = np.nan
    b = market_model_panel(yy, x)
    assert np.allclose(a["beta"][350], b["beta"][350])
    with pytest.raises(BadInput):
        market_model_panel(y, x, est=(-10, -20))


def test_wide_panel_layouts(bars):
    sub = bars[bars["symbol"].isin(["002230", "688603"]) & (bars["ts"] >= "2023-07-01")]
    p = wide_panel(sub.sample(frac=1.0, random_state=0))     # order does not matter
    assert list(p.symbols) == ["002230", "688603"]
    close = p.cal(p.col_values("close"))
    assert close.shape == (p.T, 2)
    assert np.isnan(close[:, 1]).sum() == 5                  # 688603 listed 2023-07-10
    packed = p.packed(p.col_values("close"))
    assert np.isfinite(packed[:, 1]).sum() == (sub["symbol"] == "688603").sum()
    assert np.array_equal(p.from_cal(close), p.col_values("close"))


def test_daily_inputs_interval_market_return_after_a_gap(bars):
    sub = bars[(bars["symbol"] == "002230") & (bars["ts"] >= "2023-05-01") & (bars["ts"] <= "2023-05-31")]
    sub = sub[sub["ts"].dt.strftime("%F") != "2023-05-24"]   # pretend a one-day suspension
    idx = bars[bars["symbol"] == "399001.SZ"]
    inp = daily_inputs(sub, idx)
    i = int(np.flatnonzero(inp.panel.bars["ts"].dt.strftime("%F").to_numpy() == "2023-05-25")[0])
    assert inp.gap[i]
    r = returns_series(bars, "399001.SZ")
    expect = (1 + r.loc["2023-05-24"]) * (1 + r.loc["2023-05-25"]) - 1
    assert inp.mkt[i] == pytest.approx(expect, rel=1e-12)
    assert inp.estimation_mask()[i]


def test_panel_equals_the_statsmodels_loop_on_the_real_panel(bars):
    # six real stocks against 399001 / 000001, a few days each: the vectorised estimate equals a
    # per-symbol statsmodels OLS to 1e-8 (the loop is the benchmark baseline, not the implementation)
    from anomaly.marketmodel import market_model_loop

    stocks = bars[bars["symbol"].isin(["002230", "000002", "600150", "300010", "688603", "002432"])]
    inp = daily_inputs(stocks, bars[bars["symbol"].str.contains(r"\.")])
    p = inp.panel
    y, x = p.cal(inp.ret), p.cal(inp.mkt)
    ex = p.cal(inp.estimation_mask(), fill=True)
    fast = market_model_panel(y, x, exclude=ex)
    days = [int(p.days.get_loc(pd.Timestamp(d, tz="Asia/Shanghai") + pd.Timedelta(hours=15)))
            for d in ("2023-05-24", "2024-02-05", "2024-09-30")]
    slow = market_model_loop(y, x, exclude=ex, days=days)
    for k in ("alpha", "beta", "sigma2", "n", "ar", "t"):
        a, b = fast[k][days], slow[k][days]
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        ok = ~np.isnan(a)
        assert ok.sum() >= 12
        assert np.allclose(a[ok], b[ok], rtol=1e-8, atol=1e-10), k
