"""Daily detectors: tiny literal cases (table-driven, incl. limit days) and the acceptance points on
the bundled real sample (002230 in May 2023 and over 2023; hand-checked 异常波动 and 龙虎榜 cases)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from anomaly.detect import Context, make_detector
from anomaly.errors import ConfigError

TZ = "Asia/Shanghai"


# --- helpers ------------------------------------------------------------------------------------


def frame(symbol: str, rows, start="2023-03-01") -> pd.DataFrame:
    """Bars from literal rows ``(open, high, low, close[, volume[, turnover]])`` on consecutive
    business days; prev_close is the previous row's close (the first row's prev_close is its open)."""
    days = pd.bdate_range(start, periods=len(rows))
    out = []
    prev = None
    for d, r in zip(days, rows):
        o, h, l, c = r[:4]
        out.append(dict(symbol=symbol, ts=pd.Timestamp(d) + pd.Timedelta(hours=15), open=o, high=h, low=l,
                        close=c, prev_close=prev if prev is not None else o,
                        volume=r[4] if len(r) > 4 else 1e6, amount=(r[4] if len(r) > 4 else 1e6) * c,
                        turnover=r[5] if len(r) > 5 else 1.0))
        prev = c
    df = pd.DataFrame(out)
    df["ts"] = df["ts"].dt.tz_localize(TZ)
    return df


def flat_index(symbol="399001.SZ", n=40, start="2023-03-01", moves=None) -> pd.DataFrame:
    moves = moves or {}
    level, rows = 1000.0, []
    for i in range(n):
        new = level * (1 + moves.get(i, 0.0))
        rows.append((level, max(level, new), min(level, new), new))
        level = new
    return frame(symbol, rows, start)


def one(df: pd.DataFrame, **where) -> pd.Series:
    m = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        m &= (df[k].dt.strftime("%F") == v).to_numpy() if k == "start" else (df[k] == v).to_numpy()
    hit = df[m]
    assert len(hit) == 1, f"expected one record for {where}, got {len(hit)}:\n{df[['symbol', 'kind', 'start']]}"
    return hit.iloc[0]


def half_up(x: float) -> float:
    return float(Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- limits: table-driven literal cases ---------------------------------------------------------

LIMIT_CASES = [
    # id, symbol, is_st, date, (prev, open, high, low, close), expected kinds, limit price, pct
    ("main limit-up close", "600000", False, "2023-03-01", (10.00, 10.20, 11.00, 10.10, 11.00),
     {"limit_up_close"}, 11.00, 0.10),
    ("main touched limit-down, not closed", "002230", False, "2023-10-24", (51.87, 52.10, 52.67, 46.68, 46.70),
     {"limit_down_touch"}, 46.68, 0.10),
    ("ST 5 % limit-up close", "600001", True, "2023-03-01", (3.33, 3.40, 3.50, 3.38, 3.50),
     {"limit_up_close"}, 3.50, 0.05),
    ("ST touched +5 %, closed below", "600001", True, "2023-03-01", (3.33, 3.40, 3.50, 3.38, 3.45),
     {"limit_up_touch"}, 3.50, 0.05),
    ("ChiNext 20 % limit-up close", "300750", False, "2023-03-01", (20.00, 21.00, 24.00, 20.50, 24.00),
     {"limit_up_close"}, 24.00, 0.20),
    ("ChiNext −10 % is no limit", "300750", False, "2023-03-01", (20.00, 19.50, 20.10, 18.00, 18.00),
     set(), None, None),
    ("ChiNext before the reform: 10 %", "300750", False, "2020-08-21", (20.00, 21.00, 22.00, 20.50, 22.00),
     {"limit_up_close"}, 22.00, 0.10),
    ("STAR limit-down close", "688001", False, "2023-03-01", (20.00, 19.00, 19.50, 16.00, 16.00),
     {"limit_down_close"}, 16.00, 0.20),
    ("one-price limit-up (一字板)", "600000", False, "2023-03-01", (10.00, 11.00, 11.00, 11.00, 11.00),
     {"limit_up_close"}, 11.00, 0.10),
    ("both sides touched, closed up", "600000", False, "2023-03-01", (10.00, 10.00, 11.00, 9.00, 11.00),
     {"limit_up_close", "limit_down_touch"}, None, 0.10),
    ("index symbols have no limits", "399001.SZ", False, "2023-03-01", (1000, 1000, 1200, 900, 1150),
     set(), None, None),
]


@pytest.mark.parametrize("case", LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limits_table(case):
    _, sym, st, date, (prev, o, h, l, c), kinds, price, pct = case
    bars = frame(sym, [(prev, prev, prev, prev), (o, h, l, c)], start=pd.Timestamp(date) - pd.offsets.BDay(1))
    meta = pd.DataFrame({"board": ["main"], "is_st": [st]}, index=[sym]) if st else None
    out = make_detector("limits").detect(bars, Context(meta=meta))
    got = out[out["start"].dt.strftime("%F") == pd.Timestamp(date).strftime("%F")]
    assert set(got["kind"]) == kinds
    for _, r in got.iterrows():
        d = r["details"]
        assert r["reference"] == "prev_close"
        assert d["limit_pct"] == pct and d["st"] == st and d["touched"]
        assert d["closed_at_limit"] == r["kind"].endswith("_close")
        assert d["limit_price"] == half_up(prev * (1 + pct if d["side"] == "up" else 1 - pct))
        if price is not None:
            assert d["limit_price"] == price
        assert r["score"] == pytest.approx(r["magnitude"] / pct)
    if case[0].startswith("one-price"):
        assert got.iloc[0]["details"]["one_price"]


def test_limits_skip_no_limit_days_from_listing_date():
    # first five trading days after a registration-based listing: no limit, even when the range fits
    rows, p = [(10.0, 10.0, 10.0, 10.0)], 10.0
    for _ in range(7):
        up = half_up(p * 1.1)
        rows.append((p, up, p, up))
        p = up
    bars = frame("301999", rows, start="2023-06-01")
    meta = pd.DataFrame({"board": ["chinext"], "list_date": [pd.Timestamp("2023-06-01")]}, index=["301999"])
    out = make_detector("limits").detect(bars, Context(meta=meta))
    assert out.empty   # +10 % closes are no ChiNext limit, and days 1-5 have no limit at all


# --- 异常波动 / 严重异常波动 on literal series --------------------------------------------------------

def limit_up_path(symbol: str, n: int, pct: float, start_price=10.00):
    rows, p = [(start_price, start_price, start_price, start_price)], start_price
    for _ in range(n):
        up = half_up(p * (1 + pct))
        rows.append((p, up, p, up))
        p = up
    return rows


def test_abnormal_3d_clipping_and_reset():
    # 10.00 → 11.00 → 12.10 → 13.31 → 14.64 → 16.10: five limit-up closes; the last two are 9.99 % and
    # 9.97 % in cents but count as exactly 10 % (收盘价达到涨跌幅限制的，取涨跌幅限制比例)
    bars = frame("600000", limit_up_path("600000", 5, 0.10))
    out = make_detector("deviation").detect(bars, Context(index_bars=flat_index("000001.SH")))
    a3 = out[out["kind"] == "abnormal_3d"]
    assert a3["start"].dt.strftime("%F").tolist() == ["2023-03-03", "2023-03-07"]
    first = a3.iloc[0]
    assert first["magnitude"] == pytest.approx(0.20) and first["score"] == pytest.approx(1.0)
    d = first["details"]
    assert d["window_days"] == 2 and d["window_start"] == "2023-03-02" and d["threshold"] == 0.20
    assert d["label"] == "异常波动" and d["index"] == "000001.SH"
    second = a3.iloc[1]["details"]        # the count restarted after the first trigger
    assert second["window_start"] == "2023-03-06" and second["stock_returns"] == [0.1, 0.1]
    assert (out["kind"] != "serious_10d").all()


def test_abnormal_3d_against_a_falling_index_and_chinext_threshold():
    bars = frame("600000", [(10, 10, 10, 10), (10, 10.5, 10, 10.5), (10.5, 11.5, 10.5, 11.5)])
    idx = flat_index("000001.SH", moves={1: -0.03, 2: -0.04})
    out = make_detector("deviation").detect(bars, Context(index_bars=idx))
    r = one(out, kind="abnormal_3d")
    assert r["magnitude"] == pytest.approx(0.05 + 0.03 + (11.5 / 10.5 - 1) + 0.04)
    # ChiNext: the same moves are far from ±30 %
    out = make_detector("deviation").detect(frame("300750", [(10, 10, 10, 10), (10, 10.5, 10, 10.5),
                                                              (10.5, 11.5, 10.5, 11.5)]),
                                            Context(index_bars=idx.assign(symbol="399001.SZ")))
    assert out.empty


def test_serious_10d_is_edge_triggered():
    # ChiNext: six +20 % limit-ups — Σ deviation reaches +100 % on day 5 and stays above it
    bars = frame("300750", limit_up_path("300750", 6, 0.20))
    out = make_detector("deviation").detect(bars, Context(index_bars=flat_index()))
    s10 = out[out["kind"] == "serious_10d"]
    assert len(s10) == 1
    r = s10.iloc[0]
    assert r["start"].strftime("%F") == "2023-03-08" and r["magnitude"] == pytest.approx(1.0)
    assert r["details"]["window_days"] == 5 and r["details"]["label"] == "严重异常波动"
    a3 = out[out["kind"] == "abnormal_3d"]["start"].dt.strftime("%F").tolist()
    assert a3 == ["2023-03-03", "2023-03-07", "2023-03-09"]   # ±30 % on ChiNext: 2 × 20 %, reset, …


def test_deviation_without_index_is_a_skip():
    assert make_detector("deviation").detect(frame("600000", limit_up_path("600000", 3, 0.1))).empty


# --- 龙虎榜 screens on literal bars ----------------------------------------------------------------

def test_lhb_screens_table():
    idx = flat_index("000001.SH")
    rows = [(10, 10, 10, 10, 1e6, 1.0),
            (10, 10.99, 9.55, 10.8, 1e6, 20.0),      # amplitude 15.08 % on the low, turnover 20 %, dev 8 %
            (10.8, 11.0, 10.5, 10.6, 1e6, 19.99)]    # nothing
    out = make_detector("lhb").detect(frame("600000", rows), Context(index_bars=idx))
    assert sorted(out["kind"]) == ["amplitude_lhb", "deviation_1d_lhb", "turnover_lhb"]
    amp = one(out, kind="amplitude_lhb")
    assert amp["magnitude"] == pytest.approx((10.99 - 9.55) / 9.55) and amp["reference"] == "day_low"
    assert "top 5" in amp["details"]["note"]
    assert one(out, kind="turnover_lhb")["magnitude"] == pytest.approx(0.20)
    assert one(out, kind="deviation_1d_lhb")["magnitude"] == pytest.approx(0.08)
    # ChiNext/STAR thresholds: 15 % / 30 % / 30 %
    rows = [(10, 10, 10, 10, 1e6, 1.0), (10, 11.6, 9.0, 11.4, 1e6, 29.0)]
    assert make_detector("lhb").detect(frame("300750", rows), Context(index_bars=idx)).empty
    rows = [(10, 10, 10, 10, 1e6, 1.0), (10, 11.7, 9.0, 11.6, 1e6, 30.0)]
    out = make_detector("lhb").detect(frame("688001", rows), Context(index_bars=idx))
    assert sorted(out["kind"]) == ["amplitude_lhb", "deviation_1d_lhb", "turnover_lhb"]


# --- statistical detectors on literal series ------------------------------------------------------

def quiet_then(event_rows, n=130, vol=1e6):
    """n quiet days (±1 % wicks, ±0.5 % closes, alternating) then the event rows."""
    rows, p = [], 10.0
    for i in range(n):
        c = round(p * (1.005 if i % 2 == 0 else 0.995), 2)
        rows.append((p, round(max(p, c) * 1.01, 2), round(min(p, c) * 0.99, 2), c, vol * (1.1 if i % 3 else 0.9)))
        p = c
    for r in event_rows:
        o, h, l, c = (round(p * f, 2) for f in r[:4])
        rows.append((o, h, l, c, r[4] if len(r) > 4 else vol))
        p = c
    return rows


def test_range_flash_crash_and_spike_literal():
    rows = quiet_then([(1.0, 1.005, 0.91, 0.97, 3e6),       # flash crash: low −9 %, close −3 %
                       (1.0, 1.01, 0.99, 1.0),
                       (1.0, 1.08, 0.995, 1.01),             # spike: high +8 %, close +1 %
                       (1.0, 1.0, 0.91, 0.91)])              # closes at its low: not a path anomaly
    bars = frame("600000", rows, start="2022-06-01")
    out = make_detector("range").detect(bars)
    assert list(out["kind"]) == ["range_crash", "range_spike"]
    crash, spike = out.iloc[0], out.iloc[1]
    d = crash["details"]
    assert crash["reference"] == "prev_close" and crash["score"] <= -4 and crash["p_value"] != crash["p_value"]
    assert crash["magnitude"] == pytest.approx(d["low"] / d["prev_close"] - 1)
    assert d["recovery_off_low"] == pytest.approx(d["close"] / d["low"] - 1, abs=1e-6)
    assert d["close_return"] == pytest.approx(d["close"] / d["prev_close"] - 1, abs=1e-6)
    assert d["robust_z"] == pytest.approx((crash["magnitude"] - d["trailing_median"]) / (1.4826 * d["trailing_mad"]),
                                          rel=1e-3)
    assert d["window"] == 120 and d["market_model"] is None          # no index bars: no event study
    assert d["volume_vs_prev_day"] == pytest.approx(3e6 / bars["volume"].iloc[129], rel=1e-3)
    assert spike["score"] >= 4 and spike["details"]["retreat_off_high"] < 0
    # the close-at-low day is the volatility detector's job
    vs = make_detector("vol_surprise").detect(bars)
    assert vs.iloc[-1]["start"] == bars["ts"].iloc[-1] and vs.iloc[-1]["score"] <= -4
    assert vs.iloc[-1]["reference"] == "ewma_vol" and 0 < vs.iloc[-1]["p_value"] < 1e-4
    # min_retrace=0: every abnormal extreme, including the close-at-low day
    out0 = make_detector("range", min_retrace=0.0).detect(bars)
    assert len(out0) == 3


def test_range_needs_history():
    rows = quiet_then([(1.0, 1.0, 0.90, 0.97)], n=40)
    assert make_detector("range").detect(frame("600000", rows)).empty   # 40 < min_periods 60


def test_volume_surge_literal():
    rows = quiet_then([(1.0, 1.01, 0.99, 1.0, 6e6), (1.0, 1.01, 0.99, 1.0, 2e6)], n=30)
    out = make_detector("volume_surge").detect(frame("600000", rows))
    r = one(out, kind="volume_surge")
    assert r["reference"] == "trailing_median"
    d = r["details"]
    assert d["measure"] == "volume" and d["volume_ratio"] == pytest.approx(6e6 / d["trailing_median_volume"], rel=1e-4)
    assert r["magnitude"] == pytest.approx(d["volume_ratio"] - 1, rel=1e-3) and r["score"] >= 4
    # an index without volume is measured on amount
    idx = frame("931071.CSI", rows).assign(volume=np.nan)
    r = one(make_detector("volume_surge").detect(idx), kind="volume_surge")
    assert r["details"]["measure"] == "amount"


def test_abnormal_return_literal_and_no_index_skip():
    rng = np.random.default_rng(11)
    n = 300
    m = rng.normal(0, 0.01, n)
    m[-1] = 0.0
    idx_rows, lvl = [], 1000.0
    for r in m:
        new = lvl * (1 + r)
        idx_rows.append((lvl, max(lvl, new), min(lvl, new), new))
        lvl = new
    rs = 1.2 * m + rng.normal(0, 0.01, n)
    rs[-1] = 0.08                                          # +8 % on a flat market day
    rows, p = [], 10.0
    for r in rs:
        c = round(p * (1 + r), 2)
        rows.append((p, max(p, c), min(p, c), c))
        p = c
    bars = frame("600000", rows, start="2022-01-03")
    idx = frame("000001.SH", idx_rows, start="2022-01-03")
    out = make_detector("abnormal_return").detect(bars, Context(index_bars=idx))
    r = out.iloc[-1]
    assert r["start"] == bars["ts"].iloc[-1] and r["reference"] == "market_model"
    d = r["details"]
    assert d["benchmark"] == "000001.SH" and d["n_est"] == 240 and d["beta"] == pytest.approx(1.2, abs=0.25)
    assert r["magnitude"] == pytest.approx(d["ar"]) and r["score"] >= 4 and r["p_value"] < 1e-3
    assert d["est_window"] == [-250, -11]
    adj = make_detector("abnormal_return", variant="market_adjusted").detect(bars, Context(index_bars=idx))
    assert adj.iloc[-1]["reference"] == "index"
    assert make_detector("abnormal_return").detect(bars).empty          # no index bars: skip, no crash


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError):
        make_detector("range", window=3)
    with pytest.raises(ConfigError):
        make_detector("abnormal_return", est_start=-5, est_end=-10)
    with pytest.raises(ConfigError):
        make_detector("vol_surprise", lam=1.5)
    with pytest.raises(ConfigError):
        make_detector("volume_surge", ratio_threshold=0.5)
    with pytest.raises(ConfigError):
        make_detector("abnormal_return", variant="capm")


# --- acceptance on the bundled real sample --------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    idx = b[b["symbol"].str.contains(r"\.")]
    return b, idx


def detect_window(bars, idx, names, start, end, symbols=None):
    """What the CLI does: load a lookback before ``start``, detect, keep records in [start, end]."""
    from anomaly.calendar import previous_trading_day

    dets = [make_detector(n) for n in names]
    lb = max(d.lookback_days for d in dets)
    lo = previous_trading_day(start, lb)
    sel = bars[bars["symbol"].isin(symbols)] if symbols else bars
    d = sel["ts"].dt.tz_convert(TZ).dt.tz_localize(None)
    sel = sel[(d >= lo) & (d <= pd.Timestamp(end) + pd.Timedelta(hours=23))]
    ctx = Context(index_bars=idx, benchmark={s: "399001.SZ" for s in (symbols or []) if s.startswith(("0", "3"))})
    from anomaly.detect import run_detectors
    out = run_detectors(sel, dets, ctx)
    day = out["start"].dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    return out[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))].reset_index(drop=True)


def test_acceptance_2023_05_24_flash_crash(real):
    bars, idx = real
    out = detect_window(bars, idx, ["range", "abnormal_return", "vol_surprise", "volume_surge", "limits",
                                    "deviation", "lhb"], "2023-05-01", "2023-05-31", ["002230"])
    r = one(out, kind="range_crash", start="2023-05-24")
    assert r["magnitude"] == pytest.approx(-0.0946, abs=5e-4)
    assert r["reference"] == "prev_close" and abs(r["score"]) >= 4
    d = r["details"]
    assert d["close_return"] == pytest.approx(-0.0426, abs=5e-4)
    assert d["recovery_off_low"] == pytest.approx(0.057, abs=5e-4)
    assert d["robust_z"] == pytest.approx(r["score"], abs=1e-3)
    assert d["window"] == 120 and d["trailing_mad"] > 0
    mm = d["market_model"]
    assert mm["benchmark"] == "399001.SZ"
    assert -0.045 <= mm["ar"] <= -0.025
    assert abs(mm["t"]) < 1.96 and mm["p"] > 0.05           # honest: the close alone is not significant
    assert mm["n_est"] >= 200 and mm["est_window"] == [-250, -11]
    assert mm["market_return"] == pytest.approx(-0.0084, abs=5e-4)
    # and no abnormal_return record that day: its |t| is far below the threshold
    ar_day = out[(out["kind"] == "abnormal_return") & (out["start"].dt.strftime("%F") == "2023-05-24")]
    assert ar_day.empty


def test_acceptance_range_flags_over_2023(real):
    bars, idx = real
    out = detect_window(bars, idx, ["range"], "2023-01-01", "2023-12-31", ["002230"])
    days = out["start"].dt.strftime("%F")
    assert 3 <= days.nunique() <= 15
    rec = out["details"].map(lambda d: d["recovery_off_low"])
    assert days[rec.idxmax()] == "2023-05-24"


def test_acceptance_2023_10_24_limit_down_touch(real):
    bars, idx = real
    out = detect_window(bars, idx, ["limits"], "2023-10-24", "2023-10-24", ["002230"])
    r = one(out, start="2023-10-24")
    assert r["kind"] == "limit_down_touch"
    d = r["details"]
    assert d["limit_price"] == 46.68 == half_up(51.87 * 0.9)
    assert d["close"] == 46.70 and d["touched"] and not d["closed_at_limit"]
    assert "not at the limit" in d["statement"] and "46.68" in d["statement"]


def bar_of(bars, symbol, date):
    rows = bars[bars["symbol"] == symbol]
    return rows[rows["ts"].dt.strftime("%F") == date].iloc[0]


def _hand_returns(bars, symbol, days, pct):
    """Stock return per day by the rule's arithmetic: close/prev − 1, ±pct when it closed at the limit."""
    rows = bars[bars["symbol"] == symbol]
    rows = rows.set_index(rows["ts"].dt.strftime("%F"))
    out = []
    for d in days:
        r = rows.loc[d]
        up, down = half_up(r["prev_close"] * (1 + pct)), half_up(r["prev_close"] * (1 - pct))
        if r["close"] == up:
            out.append(pct)
        elif r["close"] == down:
            out.append(-pct)
        else:
            out.append(r["close"] / r["prev_close"] - 1)
    return np.array(out)


def test_hand_checked_abnormal_3d_case_from_the_panel(real):
    # 002432 (Shenzhen main board), 2022-01-10..12: two limit-up closes after a small gain
    bars, idx = real
    out = detect_window(bars, idx, ["deviation"], "2022-01-12", "2022-01-12", ["002432"])
    r = one(out, kind="abnormal_3d", start="2022-01-12")
    days = ["2022-01-10", "2022-01-11", "2022-01-12"]
    stock = _hand_returns(bars, "002432", days, 0.10)
    assert stock[1] == 0.10 and stock[2] == 0.10            # both limit-ups count as exactly 10 %
    ix = bars[bars["symbol"] == "399001.SZ"]
    ix = ix.set_index(ix["ts"].dt.strftime("%F"))
    index = np.array([ix.loc[d, "close"] / ix.loc[d, "prev_close"] - 1 for d in days])
    total = float((stock - index).sum())
    assert total >= 0.20                                     # 连续三个交易日内…累计达到 +20 %
    assert r["magnitude"] == pytest.approx(total, abs=1e-6)
    d = r["details"]
    assert d["window_start"] == days[0] and d["window_end"] == days[-1] and d["window_days"] == 3
    assert d["daily_deviations"] == pytest.approx(list(stock - index), abs=1e-6)
    assert d["index"] == "399001.SZ" and d["index_is_regulator"] is False   # 399106 is not bundled


def test_hand_checked_lhb_cases_from_the_panel(real):
    bars, idx = real
    # 002230 on 2023-04-21: amplitude measured on the day's low ≥ 15 %
    out = detect_window(bars, idx, ["lhb"], "2023-04-21", "2023-04-21", ["002230"])
    r = one(out, kind="amplitude_lhb")
    row = bar_of(bars, "002230", "2023-04-21")
    amp = (row["high"] - row["low"]) / row["low"]
    assert amp >= 0.15 and r["magnitude"] == pytest.approx(amp, rel=1e-9)
    assert (row["high"] - row["low"]) / row["prev_close"] < amp           # on the low, not prev close
    # 300010 (ChiNext) on 2023-01-19: deviation ≤ −15 % against the Shenzhen benchmark
    out = detect_window(bars, idx, ["lhb"], "2023-01-19", "2023-01-19", ["300010"])
    r = one(out, kind="deviation_1d_lhb")
    stock = _hand_returns(bars, "300010", ["2023-01-19"], 0.20)[0]
    ix = bar_of(bars, "399001.SZ", "2023-01-19")
    dev = stock - (ix["close"] / ix["prev_close"] - 1)
    assert dev <= -0.15 and r["magnitude"] == pytest.approx(dev, abs=1e-6)
    assert r["details"]["threshold"] == 0.15 and r["details"]["board"] == "chinext"
