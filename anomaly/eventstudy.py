"""Event study on daily bars: abnormal returns (AR) and cumulative abnormal returns (CAR) over stated
windows for one event, and CAAR with cross-sectional, BMP and sign tests for a sample of events.

Conventions (as in MacKinlay 1997, EventStudyTools, R ``estudy2``):

* Returns are simple daily returns ``close / prev_close − 1`` on the benchmark's trading days; a day the
  stock has no bar (suspended) has no return. Event time counts benchmark trading days; day 0 is the
  event day.
* Market model ``R_it = α + β R_mt + ε``, estimated over ``est`` (default [−250, −11]) by OLS in
  ``anomaly.marketmodel.ols`` on the rows ``marketmodel.estimation_rows`` picks — the same two
  functions ``marketmodel.fit_event`` uses, so α, β, σ are estimated in one place. This module decides
  the excluded estimation days (closes at the limit price, the first day after a suspension) and
  computes the window statistics itself from the per-day ARs.
* ``AR_t = R_it − (α + β R_mt)``; ``CAR[a,b] = Σ AR_t`` over the window days that have data.
* The CAR's variance includes the prediction error of the estimated parameters:
  ``Var(CAR) = σ² (L + 1ᵀ X_w (XᵀX)⁻¹ X_wᵀ 1)`` with ``X`` the estimation design ``[1, R_m]`` and
  ``X_w`` the window rows (L = days with data); ``t = CAR / √Var``; ``p`` two-sided from Student t with
  ``n − 2`` degrees of freedom. A window reaching past the data reports ``n_days`` < ``n_days_expected``
  and ``complete: false``.
* ``recovery``: ``−CAR[1, K] / AR_0`` for the longest window end K — the share of the day-0 abnormal move
  reversed afterwards (1 = fully reversed, 0 = none, < 0 = it continued).

``caar`` aggregates per-event results: CAAR = mean CAR; the cross-sectional t = CAAR / (s_CAR / √N);
BMP (Boehmer, Musumeci & Poulsen 1991) t = mean(SCAR) · √N / s_SCAR with SCAR_i = CAR_i / √Var(CAR_i)
(the per-event t above) — robust to event-induced variance; both with N − 1 degrees of freedom; and an
exact two-sided binomial sign test of positive vs negative CARs (p = ½ under the null). Events are
assumed independent (no Kolari–Pynnönen correction for shared event dates).
"""
from __future__ import annotations

import functools
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from .errors import BadInput
from .schema import TZ

DEFAULT_WINDOWS: tuple[tuple[int, int], ...] = ((0, 0), (-1, 1), (0, 5))
DEFAULT_ESTIMATION: tuple[int, int] = (-250, -11)
DIGITS = 6


def _r(x, digits: int = DIGITS):
    """Round a float for output; NaN/inf → None; −0.0 → 0.0."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    v = round(x, digits)
    return 0.0 if v == 0 else v


def window_label(w: Sequence[int]) -> str:
    return f"[{int(w[0])},{int(w[1])}]"


def daily_returns(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """``ret`` (close/prev_close − 1) and ``close`` of one symbol, indexed by naive trading date."""
    day, ret, close, _ = _stock_days(bars, symbol, limits=False)
    idx = pd.DatetimeIndex(day.astype("datetime64[D]").astype("datetime64[ns]"))
    return pd.DataFrame({"ret": ret, "close": close}, index=idx)


def _day_numbers(naive: pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970-01-01 of naive local timestamps (any datetime unit)."""
    return naive.to_numpy().astype("datetime64[D]").astype(np.int64)


def _stock_days(bars: pd.DataFrame, symbol: str, limits: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the stock's rows → (day number since 1970-01-01 in Shanghai, ret, close,
    limit_hit), one entry per day (the last bar of a day wins), in day order.

    ``ret`` is close / prev_close − 1 (the previous bar's close where prev_close is missing);
    ``limit_hit`` (with ``limits``) marks closes at the board's limit price
    (``marketmodel.closed_at_limit``) — excluded from estimation because the limit censors the return.
    Indices and unknown symbols never hit a limit.
    """
    from .marketmodel import closed_at_limit
    from .symbols import resolve

    mine = (bars["symbol"].astype(str) == symbol).to_numpy(bool)
    rows = bars if mine.all() else bars[mine]          # the link stage passes one symbol's bars
    if rows.empty:
        return np.array([], dtype=np.int64), np.array([]), np.array([]), np.array([], dtype=bool)
    ts = pd.DatetimeIndex(rows["ts"])
    if ts.tz is None:
        raise BadInput(f"bars of {symbol} have naive timestamps (canonical bars are Asia/Shanghai)")
    order = np.argsort(ts.asi8, kind="stable")     # the column's own unit: no overflow past 2262
    day = _day_numbers(ts.tz_convert(TZ).tz_localize(None)[order])
    close = rows["close"].to_numpy(float)[order]
    raw_prev = (rows["prev_close"].to_numpy(float)[order] if "prev_close" in rows
                else np.full(len(rows), np.nan))
    prev = np.where(np.isfinite(raw_prev) & (raw_prev > 0), raw_prev, np.r_[np.nan, close[:-1]])
    hit = np.zeros(len(rows), dtype=bool)
    try:
        sym = resolve(symbol) if limits else None
    except BadInput:
        sym = None
    if sym is not None and not sym.is_index:
        hit = closed_at_limit(raw_prev, close, sym.board, sym.is_st, day.astype("datetime64[D]"))
    last = np.r_[day[1:] != day[:-1], True]
    return day[last], (close / prev - 1.0)[last], close[last], hit[last]


def _day(d) -> pd.Timestamp:
    t = pd.Timestamp(d)
    if t.tzinfo is not None:
        t = t.tz_convert("Asia/Shanghai").tz_localize(None)
    return t.normalize()


def event_study(symbol: str, event_day, bars: pd.DataFrame, index_bars: pd.DataFrame | None,
                benchmark: str, windows: Iterable[Sequence[int]] = DEFAULT_WINDOWS,
                est: tuple[int, int] = DEFAULT_ESTIMATION, min_est: int = 60,
                benchmark_returns: pd.DataFrame | None = None) -> dict:
    """Market-model event study of ``symbol`` around ``event_day`` against ``benchmark``.

    ``bars`` holds the stock's canonical daily bars (other symbols are ignored); ``index_bars`` the
    benchmark's (``None``: look in ``bars``). Raises ``BadInput`` when the benchmark or the event-day bar
    is missing or fewer than ``min_est`` estimation days remain. Returns a JSON-able dict::

        {"symbol", "event_day", "benchmark", "benchmark_name",
         "estimation": {"start", "end", "n", "alpha", "beta", "sigma", "source"},
         "windows": [{"window": "[0,0]", "start", "end", "n_days", "n_days_expected", "complete",
                      "car", "sd", "t", "p"}, ...],
         "days": [{"day": k, "date", "ret", "index_ret", "ar"}, ...],   # every day of the windows
         "recovery": {"ar0", "car_after", "after": "[1,K]", "fraction"}}

    Works on plain arrays aligned on the benchmark's trading days (a scan runs it for every event of
    a market-wide day, so it avoids per-day pandas work).
    """
    from .marketmodel import estimation_rows, ols

    windows = [(int(a), int(b)) for a, b in windows]
    if any(a > b for a, b in windows):
        raise BadInput(f"event window with start after end: {windows}")
    day0 = _day(event_day)
    if benchmark_returns is not None:  # precomputed ``daily_returns(index_bars, benchmark)`` (many events)
        m = benchmark_returns
    else:
        m = daily_returns(index_bars if index_bars is not None else bars, benchmark)
    if m.empty:
        raise BadInput(f"no bars for benchmark {benchmark} (needed for the event study of {symbol})")
    s_day, s_ret, s_close, s_hit = _stock_days(bars, symbol)
    if not len(s_day):
        raise BadInput(f"no daily bars for {symbol} (needed for the event study)")
    if not m.index.is_monotonic_increasing:
        m = m.sort_index(kind="stable")
    cal = m.index
    cal_day = _day_numbers(cal)
    mret = m["ret"].to_numpy(float)
    ret, traded, hit = np.full(len(cal), np.nan), np.zeros(len(cal), bool), np.zeros(len(cal), bool)
    at = np.minimum(np.searchsorted(cal_day, s_day), len(cal) - 1)   # the stock's days on the calendar
    on = cal_day[at] == s_day
    ret[at[on]] = s_ret[on]
    traded[at[on]] = np.isfinite(s_close[on])
    hit[at[on]] = s_hit[on]
    # Excluded from estimation: limit-hit closes, and the first day back after a suspension (its
    # return spans the whole gap).
    exclude = hit | (np.r_[False, ~traded[:-1]] & traded)
    pos = cal.get_indexer([day0])[0]
    if pos < 0:
        raise BadInput(f"{day0.date()} is not a trading day in the {benchmark} bars")
    pos0 = int(pos)
    if not np.isfinite(ret[pos0]):
        raise BadInput(f"{symbol} has no bar with a return on {day0.date()} (suspended?)")

    # α, β, σ: marketmodel's estimator, on the days with an index return (as ``fit_event`` counts them).
    valid = np.flatnonzero(np.isfinite(mret))
    t0 = int(np.searchsorted(valid, pos0))
    if t0 >= len(valid) or valid[t0] != pos0:
        raise BadInput(f"{day0.date()} has no {benchmark} return (not a day of the index returns)")
    sel = valid[estimation_rows(ret[valid], mret[valid], exclude[valid], t0, est)]
    n = len(sel)
    if n < max(min_est, 3):
        raise BadInput(f"event study of {symbol} on {day0.date()}: only {n} estimation days "
                       f"(need {max(min_est, 3)}) in [{est[0]},{est[1]}]; supply longer history")
    try:
        alpha, beta, sigma2, *_ = ols(mret[sel], ret[sel])
    except BadInput as exc:
        raise BadInput(f"event study of {symbol} on {day0.date()}: {exc}") from None
    sigma = math.sqrt(sigma2)
    x = mret[sel]
    X = np.column_stack([np.ones_like(x), x])
    xtx_inv = np.linalg.pinv(X.T @ X)
    df_t = max(n - 2, 1)
    ar = ret - (alpha + beta * mret)
    has_ar = ~np.isnan(ar)

    out_windows = []
    for a, b in windows:
        lo, hi = max(pos0 + a, 0), max(pos0 + b + 1, 0)
        rows = np.arange(lo, min(hi, len(cal)))
        rows = rows[has_ar[rows]]
        L = len(rows)
        expected = b - a + 1
        entry = {"window": window_label((a, b)),
                 "start": str(cal[rows[0]].date()) if L else None,
                 "end": str(cal[rows[-1]].date()) if L else None,
                 "n_days": L, "n_days_expected": expected, "complete": L == expected}
        if L:
            car = float(ar[rows].sum())
            ones = np.array([float(L), float(mret[rows].sum())])
            var = sigma ** 2 * (L + float(ones @ xtx_inv @ ones))
            sd = math.sqrt(var)
            t = car / sd if sd > 0 else math.nan   # σ = 0: the stock is its benchmark; no test
            p = 2.0 * special.stdtr(df_t, -abs(t))   # = 2 · stats.t.sf(|t|), without the wrapper
            entry.update({"car": _r(car), "sd": _r(sd), "t": _r(t, 4), "p": _r(p, 6)})
        else:
            entry.update({"car": None, "sd": None, "t": None, "p": None})
        out_windows.append(entry)

    k_lo, k_hi = min(a for a, _ in windows), max(b for _, b in windows)
    days = [{"day": k, "date": str(cal[pos0 + k].date()), "ret": _r(ret[pos0 + k]),
             "index_ret": _r(mret[pos0 + k]), "ar": _r(ar[pos0 + k])}
            for k in range(k_lo, k_hi + 1) if 0 <= pos0 + k < len(cal)]
    ar0 = float(ar[pos0])
    after = ar[pos0 + 1:pos0 + k_hi + 1] if k_hi >= 1 else ar[:0]
    after = after[~np.isnan(after)]
    car_after = float(after.sum()) if len(after) else None
    recovery = {"ar0": _r(ar0), "after": window_label((1, k_hi)) if k_hi >= 1 else None,
                "n_days_after": int(len(after)), "car_after": _r(car_after),
                "fraction": _r(-car_after / ar0) if car_after is not None and abs(ar0) > 1e-12 else None}
    return {
        "symbol": symbol, "event_day": str(day0.date()), "benchmark": benchmark,
        "benchmark_name": _index_name(benchmark), "model": "market model",
        "estimation": {"start": str(cal[sel[0]].date()), "end": str(cal[sel[-1]].date()),
                       "window": window_label(est), "n": int(n), "alpha": _r(alpha, 8),
                       "beta": _r(beta), "sigma": _r(sigma, 8), "source": "anomaly.marketmodel.ols"},
        "windows": out_windows, "days": days, "recovery": recovery,
    }


@functools.lru_cache(maxsize=64)
def _index_name(benchmark: str) -> str:
    from .symbols import resolve

    try:
        return resolve(benchmark).name
    except BadInput:
        return ""


def caar(events_results: Iterable[dict], windows: Iterable[Sequence[int]] | None = None,
         complete_only: bool = True) -> dict:
    """CAAR over several events with cross-sectional t, BMP t and a sign test, per window.

    ``events_results`` are ``event_study`` dicts or event dicts carrying one under ``"event_study"``
    (``None`` entries are skipped). A window counts an event only when its CAR and t exist (and, with
    ``complete_only``, every window day had data). Statistics needing a spread are ``None`` for N < 2.
    """
    results = []
    for r in events_results:
        if r is None:
            continue
        es = r.get("event_study", r) if isinstance(r, dict) and "windows" not in r else r
        if es:
            results.append(es)
    labels: list[str] = []
    if windows is not None:
        labels = [window_label(w) for w in windows]
    else:
        for es in results:
            for w in es.get("windows", []):
                if w["window"] not in labels:
                    labels.append(w["window"])
    out = []
    for lab in labels:
        cars, ts = [], []
        skipped = 0
        for es in results:
            w = next((w for w in es.get("windows", []) if w["window"] == lab), None)
            if w is None or w.get("car") is None or w.get("t") is None or (complete_only and not w.get("complete")):
                skipped += 1
                continue
            cars.append(float(w["car"]))
            ts.append(float(w["t"]))
        out.append({"window": lab, "n": len(cars), "skipped": skipped, **caar_stats(cars, ts)})
    return {"n_events": len(results), "windows": out,
            "method": "CAAR = mean CAR; cross-sectional t = CAAR/(s/√N); BMP t = mean(SCAR)·√N/s_SCAR with "
                      "SCAR = per-event t; both Student t with N−1 df; exact binomial sign test (p=½)"}


def caar_stats(cars: Sequence[float], scars: Sequence[float]) -> dict:
    """The CAAR statistics for literal CARs and their standardized values (SCAR_i = CAR_i / sd_i)."""
    c = np.asarray(cars, dtype=float)
    z = np.asarray(scars, dtype=float)
    n = len(c)
    res: dict = {"caar": _r(c.mean()) if n else None, "t_cs": None, "p_cs": None,
                 "mean_scar": _r(z.mean()) if n else None, "t_bmp": None, "p_bmp": None}
    if n >= 2:
        s = c.std(ddof=1)
        if s > 0:
            t = c.mean() / (s / math.sqrt(n))
            res["t_cs"], res["p_cs"] = _r(t, 4), _r(2.0 * stats.t.sf(abs(t), n - 1))
        sz = z.std(ddof=1)
        if sz > 0:
            tb = z.mean() * math.sqrt(n) / sz
            res["t_bmp"], res["p_bmp"] = _r(tb, 4), _r(2.0 * stats.t.sf(abs(tb), n - 1))
    n_pos, n_neg = int((c > 0).sum()), int((c < 0).sum())
    p_sign = stats.binomtest(n_pos, n_pos + n_neg, 0.5).pvalue if n_pos + n_neg else None
    res["sign"] = {"n_pos": n_pos, "n_neg": n_neg, "p": _r(p_sign)}
    return res
