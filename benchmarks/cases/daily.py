"""daily_detect: every default daily detector over a simulated whole market.

Ours      ``anomaly.detect.run_detectors(bars, [make_detector(n) for n in DetectConfig().daily], ctx)``
          on SYNTHETIC daily bars from ``anomaly.simulate.simulate_daily`` (5,000 symbols × 260
          trading days at full size) with a benchmark index; the shared-input cache
          (``marketmodel.clear_cache``) is cleared before every timed run, so each run starts cold.
          Timed: the whole call, validation and record building included.
Baseline  a per-symbol loop computing the same rules with pandas per symbol: the market model
          fitted with statsmodels OLS for every symbol-day over the same [t−250, t−11] window
          (limit-close days excluded, at least 120 pairs; AR, prediction-error variance, t, p),
          rolling median/MAD (``rolling.apply``) for the range and volume rules, a truncated EWMA
          for the volatility surprise, limit prices, 1–3/10/30-day cumulative deviations and the
          龙虎榜 screens. It runs on the first ``baseline_symbols`` symbols and is scaled linearly
          to the full market (``baseline_extrapolated_from``); the record also says how far its
          flags agree with ours on those symbols (``baseline_check``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..common import emit, measure_ours, record, targets_met, timed, warm_calendar


def make_data(symbols: int, days: int, seed: int = 7):
    from anomaly.simulate import Plant, simulate_daily, synthetic_symbols

    events = [Plant("cliff", day=None, prob=0.002, depth=(0.06, 0.12), recovery=(0.3, 0.7)),
              Plant("spike", day=None, prob=0.001, depth=(0.06, 0.12)),
              Plant("volume_surge", day=None, prob=0.001, depth=6.0)]
    bars, index_bars, truth = simulate_daily(symbols, days, seed=seed, events=events, index_id="399001.SZ")
    meta = synthetic_symbols(symbols).set_index("symbol")
    meta["exchange"] = np.where(meta.index.str.startswith("6"), "SH", "SZ")
    meta["name"] = ""
    meta["industry"] = ""
    meta["is_st"] = False
    meta = meta[["name", "board", "exchange", "industry", "is_st"]]
    return bars, index_bars, truth, meta


def ours(bars, index_bars, meta):
    from anomaly.config import DetectConfig
    from anomaly.detect import Context, make_detector, run_detectors

    dets = [make_detector(n) for n in DetectConfig().daily]
    ctx = Context(index_bars=index_bars, benchmark={s: "399001.SZ" for s in meta.index}, meta=meta)
    return run_detectors(bars, dets, ctx)


# --- the naive baseline ---------------------------------------------------------------------------

def _robust_sigma(w: np.ndarray) -> float:
    """1.4826 · MAD, or 1.2533 · mean absolute deviation when the MAD is 0 (as the library)."""
    w = w[np.isfinite(w)]
    if len(w) == 0:
        return np.nan
    m = np.median(w)
    dev = np.abs(w - m)
    mad = float(np.median(dev))
    if mad > 0:
        return 1.4826 * mad
    mean = float(dev.mean())
    return 1.2533 * mean if mean > 0 else np.nan


def _median(w: np.ndarray) -> float:
    w = w[np.isfinite(w)]
    return float(np.median(w)) if len(w) else np.nan


def _limit_price(pc: pd.Series, pct: float, up: bool) -> pd.Series:
    x = pc * (1 + pct if up else 1 - pct)
    return np.floor(x * 100 + 0.5 + 1e-7) / 100


def params() -> dict:
    """The default detectors' parameters, so the baseline follows the library's current defaults."""
    from anomaly.config import DetectConfig
    from anomaly.detect import make_detector

    return {n: make_detector(n) for n in DetectConfig().daily}


def baseline_symbol(g: pd.DataFrame, mkt: pd.Series, board: str, P: dict) -> list[tuple]:
    """All default daily rules for one symbol, the straightforward way (pandas + statsmodels)."""
    import statsmodels.api as sm
    from scipy import stats

    rg, ab, vs, vu = P["range"], P["abnormal_return"], P["vol_surprise"], P["volume_surge"]

    g = g.sort_values("ts").reset_index(drop=True)
    growth = board in ("chinext", "star")
    pct = 0.20 if growth else 0.10
    o, h, l, c, pc = g["open"], g["high"], g["low"], g["close"], g["prev_close"]
    v, tov = g["volume"].where(g["volume"] > 0), g["turnover"]
    ts = g["ts"]
    r = c / pc - 1
    rm = mkt.reindex(ts.to_numpy()).reset_index(drop=True)
    out: list[tuple] = []

    # price limits (cents, half-up)
    up, dn = _limit_price(pc, pct, True), _limit_price(pc, pct, False)
    cents = lambda s: (s * 100).round()  # noqa: E731
    no_limit = (cents(h) > cents(up)) | (cents(l) < cents(dn))
    closed_up, closed_dn = (cents(c) >= cents(up)) & ~no_limit, (cents(c) <= cents(dn)) & ~no_limit
    touch_up, touch_dn = (cents(h) >= cents(up)) & ~no_limit, (cents(l) <= cents(dn)) & ~no_limit
    for kind, m, mag in (("limit_up_close", closed_up, r), ("limit_up_touch", touch_up & ~closed_up, h / pc - 1),
                         ("limit_down_close", closed_dn, r), ("limit_down_touch", touch_dn & ~closed_dn, l / pc - 1)):
        for i in np.flatnonzero(m.to_numpy()):
            out.append((kind, ts[i], float(mag[i]), float(mag[i] / pct)))

    # range: low/high vs prev close against the trailing 120-day median/MAD
    lo, hi = (l / pc - 1).where(~no_limit), (h / pc - 1).where(~no_limit)
    share_dn = ((c - l) / (pc - l)).where(l < pc)
    share_up = ((h - c) / (h - pc)).where(h > pc)
    for kind, x, share, sign in (("range_crash", lo, share_dn, -1), ("range_spike", hi, share_up, 1)):
        med = x.rolling(rg.window, min_periods=rg.min_periods).apply(_median, raw=True).shift(1)
        sd = x.rolling(rg.window, min_periods=rg.min_periods).apply(_robust_sigma, raw=True).shift(1)
        z = (x - med) / sd
        hit = (sign * x >= rg.min_move) & (share >= rg.min_retrace - 1e-12) & (sign * z >= rg.z_threshold)
        for i in np.flatnonzero(hit.to_numpy()):
            out.append((kind, ts[i], float(x[i]), float(z[i])))

    # market model, statsmodels OLS per symbol-day over [t-250, t-11]
    excl = (closed_up | closed_dn | no_limit | r.isna() | rm.isna()).to_numpy()
    rv, mv = r.to_numpy(), rm.to_numpy()
    for i in range(len(g)):
        b = i + ab.est_end
        if b < 0:
            continue
        a = max(i + ab.est_start, 0)
        keep = ~excl[a:b + 1]
        if keep.sum() < ab.min_obs or not (np.isfinite(rv[i]) and np.isfinite(mv[i])) or no_limit[i]:
            continue
        y, x = rv[a:b + 1][keep], mv[a:b + 1][keep]
        res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
        x0 = np.array([1.0, mv[i]])
        ar = rv[i] - float(x0 @ res.params)
        var = res.scale * (1.0 + float(x0 @ res.normalized_cov_params @ x0))
        t = ar / math.sqrt(var)
        p = 2 * stats.t.sf(abs(t), res.df_resid)
        if abs(t) >= ab.t_threshold and abs(ar) >= ab.min_abs_ar:
            out.append(("abnormal_return", ts[i], ar, t, p))

    # volatility surprise: truncated EWMA (lambda 0.94, 120 bars) of the previous returns
    rr = r.where(~no_limit)
    lam_w = vs.lam ** np.arange(vs.window)

    def ewma_var(w: np.ndarray) -> float:
        wt = lam_w[:len(w)][::-1]
        ok = np.isfinite(w)
        return float(np.sum(wt[ok] * w[ok] ** 2) / np.sum(wt[ok])) if ok.any() else np.nan

    var = rr.rolling(vs.window, min_periods=1).apply(ewma_var, raw=True).shift(1)
    cnt = rr.rolling(vs.window, min_periods=1).count().shift(1)
    z = rr / np.sqrt(var)
    hit = (cnt >= vs.min_periods) & (z.abs() >= vs.z_threshold) & (rr.abs() >= vs.min_abs_return)
    for i in np.flatnonzero(hit.to_numpy()):
        out.append(("vol_surprise", ts[i], float(rr[i]), float(z[i])))

    # volume surge vs the trailing 20-day median, robust z of log volume
    vmed = v.rolling(vu.window, min_periods=vu.min_periods).apply(_median, raw=True).shift(1)
    lv = np.log(v)
    lmed = lv.rolling(vu.window, min_periods=vu.min_periods).apply(_median, raw=True).shift(1)
    lsd = lv.rolling(vu.window, min_periods=vu.min_periods).apply(_robust_sigma, raw=True).shift(1)
    ratio = v / vmed
    vz = (lv - lmed) / lsd
    hit = (ratio >= vu.ratio_threshold) & (vz >= vu.z_threshold)
    for i in np.flatnonzero(hit.to_numpy()):
        out.append(("volume_surge", ts[i], float(ratio[i] - 1), float(vz[i])))

    # closing-price deviation (limit-clipped) and the exchange's cumulative rules
    rc = r.where(~closed_up, pct).where(~closed_dn, -pct).where(~no_limit)
    d = rc - rm
    thr3 = 0.30 if growth else 0.20
    last = -1
    dv = d.to_numpy()
    for i in range(len(dv)):
        s, best = 0.0, None
        for k in range(1, 4):
            j = i - k + 1
            if j < 0 or j <= last or not np.isfinite(dv[j]):
                break
            s += dv[j]
            if abs(s) >= thr3 - 1e-9 and (best is None or abs(s) > abs(best)):
                best = s
        if best is not None:
            last = i
            out.append(("abnormal_3d", ts[i], best, best / thr3))
    for name, K, upthr, dnthr in (("serious_10d", 10, 1.0, -0.5), ("serious_30d", 30, 2.0, -0.7)):
        sums = pd.concat([d.rolling(k, min_periods=k).sum() for k in range(1, K + 1)], axis=1)
        cond = (sums.max(axis=1) >= upthr) | (sums.min(axis=1) <= dnthr)
        edge = cond & ~cond.shift(1, fill_value=False)
        for i in np.flatnonzero(edge.to_numpy()):
            out.append((name, ts[i], float(sums.iloc[i].max()), 1.0))

    # 龙虎榜 screens
    tdev, tamp, ttov = (0.15, 0.30, 0.30) if growth else (0.07, 0.15, 0.20)
    amp = (h - l) / l
    for kind, val, thr in (("deviation_1d_lhb", d, tdev), ("amplitude_lhb", amp.where(~no_limit), tamp),
                           ("turnover_lhb", (tov / 100).where(~no_limit), ttov)):
        hit = val.abs() >= thr - 1e-9 if kind == "deviation_1d_lhb" else val >= thr - 1e-9
        for i in np.flatnonzero(hit.fillna(False).to_numpy()):
            out.append((kind, ts[i], float(val[i]), float(val[i] / thr)))
    return out


def baseline(bars: pd.DataFrame, index_bars: pd.DataFrame, meta: pd.DataFrame, symbols) -> dict:
    ib = index_bars.sort_values("ts")
    mkt = pd.Series((ib["close"] / ib["prev_close"] - 1).to_numpy(), index=ib["ts"].to_numpy())
    P = params()
    out = {}
    for sym in symbols:
        g = bars[bars["symbol"] == sym]
        out[sym] = baseline_symbol(g, mkt, meta.at[sym, "board"], P)
    return out


def _agreement(ours_rec: pd.DataFrame, base: dict, kinds=("abnormal_return", "range_crash", "range_spike",
                                                           "vol_surprise", "volume_surge", "limit_up_close",
                                                           "limit_down_close", "deviation_1d_lhb")) -> dict:
    syms = set(base)
    mine = ours_rec[ours_rec["symbol"].isin(syms)]
    res = {}
    for k in kinds:
        a = {(s, pd.Timestamp(t)) for s, t in zip(mine.loc[mine["kind"] == k, "symbol"],
                                                  mine.loc[mine["kind"] == k, "start"])}
        b = {(s, pd.Timestamp(r[1])) for s, recs in base.items() for r in recs if r[0] == k}
        res[k] = {"ours": len(a), "baseline": len(b), "both": len(a & b)}
    return res


def run(size: dict, label: str) -> None:
    from anomaly.marketmodel import clear_cache

    warm_calendar()
    S, D = size["symbols"], size["days"]
    gen_s, (bars, index_bars, truth, meta) = timed(lambda: make_data(S, D))
    n = len(bars)
    sec, runs, peak, scope, recs = measure_ours(lambda: ours(bars, index_bars, meta), size["repeats"],
                                                before=clear_cache)
    clear_cache()
    k = min(size["baseline_symbols"], S)
    subset = list(meta.index[:: max(S // k, 1)][:k])
    # warm statsmodels' import outside the timing
    import statsmodels.api  # noqa: F401
    bsec, base = timed(lambda: baseline(bars, index_bars, meta, subset))
    full_bsec = bsec * S / len(subset)
    rec = record("daily_detect", n, sec, "per-symbol loop: statsmodels OLS market model per symbol-day + "
                 "pandas rolling rules per symbol", full_bsec, peak, "bars",
                 data="synthetic", generator="anomaly.simulate.simulate_daily(seed=7)", size=label,
                 symbols=S, days=D, seconds_runs=[round(x, 3) for x in runs], peak_rss_scope=scope,
                 detectors=list(params()),
                 timed="one run_detectors call over all default daily detectors (DetectConfig().daily), "
                       "cold cache, validation and records included",
                 records=int(len(recs)), records_by_kind={k_: int(v) for k_, v in recs["kind"].value_counts().items()},
                 baseline_extrapolated_from=len(subset), baseline_subset_seconds=round(bsec, 3),
                 baseline_check=_agreement(recs, base), data_seconds=round(gen_s, 2))
    rec.update(targets_met(rec, ratio_min=100, seconds_max=5.0, rss_max_mb=2048))
    emit(rec)
