"""Market-model estimation (vectorised panel and per event) and the wide-panel helpers of the daily
detectors.

Model (MacKinlay 1997, "Event Studies in Economics and Finance"): for stock i on day t

    R_it = α_i + β_i · R_mt + ε_it,   ε ~ iid N(0, σ²)

estimated by OLS over a *fixed* estimation window of trading days [t + a, t + b] relative to the
event day t (default a = −250, b = −11: 240 days ending two weeks before the event), using only days
on which both returns exist and the stock's return is not masked (limit-hit days, whose returns are
censored by the price limit; suspended days; the multi-day return on the first day after a
suspension; no-limit IPO days). With n pairs, x̄ the mean market return, Sxx = Σ(R_m − x̄)²:

    β = Sxy / Sxx,  α = ȳ − β x̄,  σ² = SSR / (n − 2)
    AR_t  = R_t − α − β R_mt                                         (abnormal return)
    V_t   = σ² · (1 + 1/n + (R_mt − x̄)² / Sxx)                       (prediction-error variance)
    t     = AR_t / √V_t  ~  Student t(n − 2);  p = 2 · P(T > |t|)    (two-sided)
    CAR[τ1, τ2] = Σ AR_τ over L days,  Var = σ² · (L + L²/n + (Σ(R_mτ − x̄))² / Sxx)
    market-adjusted:  MAR_t = R_t − R_mt,  t = MAR_t / s,  s² = sample variance of MAR over the
                      estimation window (n − 1 degrees of freedom)

Returns are simple returns ``close / prev_close − 1``. The p-values assume normal errors; daily
A-share returns are fat-tailed (limit days excluded or not), so a |t| of 3 is rarer under the model
than in the data — the detectors use conservative thresholds and say which distribution they used.

The panel estimator (``market_model_panel``) works on days × symbols arrays with cumulative sums:
every window sum is ``C[t+b+1] − C[t+a]``, so the whole panel costs a few array passes (no
statsmodels, no per-symbol loop). ``fit_event`` is the single-event version used by the event-study
stage; it returns a JSON-able dict (keys documented on the function).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import special

from .errors import BadInput
from .schema import TZ

EST_WINDOW = (-250, -11)


# --- wide panels --------------------------------------------------------------------------------


@dataclass
class Panel:
    """Canonical bars laid out for vectorised work.

    ``bars`` is the long frame sorted by (symbol, ts); ``row`` (day index in ``days``), ``col``
    (symbol index) and ``pos`` (position among the symbol's own bars) locate every long row.
    ``cal(x)`` scatters a long column into a days × symbols array (NaN where the symbol has no
    bar: suspended or not yet listed); ``packed(x)`` into a positions × symbols array where each
    column holds only the symbol's own trading days, top-aligned (windows over "the stock's last k
    trading days" are then plain row offsets).
    """

    bars: pd.DataFrame
    days: pd.DatetimeIndex
    symbols: pd.Index
    row: np.ndarray
    col: np.ndarray
    pos: np.ndarray
    prev_row: np.ndarray   # day index of the symbol's previous bar (−1 for its first bar)

    @property
    def day_str(self) -> np.ndarray:
        """``YYYY-MM-DD`` of every day (for record details)."""
        if getattr(self, "_day_str", None) is None:
            self._day_str = np.asarray(self.days.strftime("%Y-%m-%d"), dtype=object)
        return self._day_str

    @property
    def T(self) -> int:
        return len(self.days)

    @property
    def N(self) -> int:
        return len(self.symbols)

    @property
    def P(self) -> int:
        return int(self.pos.max()) + 1 if len(self.pos) else 0

    def col_values(self, name: str) -> np.ndarray:
        return self.bars[name].to_numpy(dtype=float)

    def cal(self, values, fill=np.nan) -> np.ndarray:
        values = np.asarray(values)
        out = np.full((self.T, self.N), fill, dtype=values.dtype if values.dtype != bool else bool)
        out[self.row, self.col] = values
        return out

    def packed(self, values, fill=np.nan) -> np.ndarray:
        values = np.asarray(values)
        out = np.full((self.P, self.N), fill, dtype=values.dtype if values.dtype != bool else bool)
        out[self.pos, self.col] = values
        return out

    def from_cal(self, arr: np.ndarray) -> np.ndarray:
        return arr[self.row, self.col]

    def from_packed(self, arr: np.ndarray) -> np.ndarray:
        return arr[self.pos, self.col]

    def packed_rows(self) -> np.ndarray:
        """Day index of every packed cell (−1 where the symbol has no bar at that position)."""
        out = np.full((self.P, self.N), -1, dtype=np.int64)
        out[self.pos, self.col] = self.row
        return out


def wide_panel(bars: pd.DataFrame, extra_days: Iterable | None = None) -> Panel:
    """Lay out canonical bars (any number of symbols) for vectorised detectors.

    The day axis is the union of the bars' timestamps and ``extra_days`` (e.g. the benchmark's
    days, so a suspension shows up as a missing day even for a one-stock frame).
    """
    known = sorted_codes(bars) if len(bars) else None
    if known is not None:          # already in (symbol, ts) order: the codes are the sorted ones
        codes, symbols = known
        tsi = None
    else:
        codes, symbols = pd.factorize(bars["symbol"], sort=True)
        codes = codes.astype(np.int64)
        tsi = pd.DatetimeIndex(bars["ts"]).asi8 if len(bars) else np.array([], dtype=np.int64)
    if tsi is not None and len(bars) > 1 and \
            not np.all((codes[1:] > codes[:-1]) | ((codes[1:] == codes[:-1]) & (tsi[1:] > tsi[:-1]))):
        order = np.lexsort((tsi, codes))
        b = bars.iloc[order].reset_index(drop=True)
        codes = codes[order]
    else:
        b = bars.reset_index(drop=True)
    ts = b["ts"]
    days = pd.DatetimeIndex(ts).unique() if len(b) else pd.DatetimeIndex([], tz=TZ)
    if days.tz is None:
        days = days.tz_localize(TZ)
    days = days.tz_convert(TZ)
    if extra_days is not None:
        extra = pd.DatetimeIndex(extra_days)
        if len(extra):
            extra = (extra.tz_localize(TZ) if extra.tz is None else extra.tz_convert(TZ))
            days = days.as_unit("ns").union(extra.as_unit("ns"))
    days = days.as_unit("ns").unique().sort_values()
    row = _rows_for(ts, days)
    col = codes
    starts = np.r_[0, np.flatnonzero(col[1:] != col[:-1]) + 1] if len(col) else np.array([], dtype=np.int64)
    first = np.repeat(starts, np.diff(np.r_[starts, len(col)]))
    pos = np.arange(len(col), dtype=np.int64) - first
    prev_row = np.full(len(b), -1, dtype=np.int64)
    if len(b):
        same = np.r_[False, col[1:] == col[:-1]]
        prev_row[same] = row[np.flatnonzero(same) - 1]
    return Panel(b, days, pd.Index(symbols), row, col, pos, prev_row)


def _rows_for(ts: pd.Series, days: pd.DatetimeIndex) -> np.ndarray:
    if not len(ts):
        return np.array([], dtype=np.int64)
    return days.get_indexer(pd.DatetimeIndex(ts).tz_convert(TZ).as_unit("ns")).astype(np.int64)


def simple_returns(panel: Panel) -> np.ndarray:
    """Long array of ``close / prev_close − 1`` (NaN where prev_close is missing)."""
    c = panel.col_values("close")
    pc = panel.col_values("prev_close")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pc > 0, c / pc - 1.0, np.nan)


@lru_cache(maxsize=65536)
def _code_info(sym: str) -> tuple[str, str, bool, str, str]:
    """(exchange, board, is_st, industry, name) of a canonical id, from the bundled table or the code."""
    from .symbols import _by_id, stock_board

    known = _by_id().get(sym)
    if known is not None:
        return known.exchange, known.board, known.is_st, known.industry, known.name
    if "." in sym:
        return sym.split(".", 1)[1].upper(), "index", False, "", ""
    eb = stock_board(sym) if len(sym) == 6 and sym.isdigit() else None
    if eb is None:  # unknown code: strictest common rules
        return "SZ", "main", False, "", ""
    return eb[0], eb[1], False, "", ""


def symbol_info(symbols: Iterable[str], meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-symbol ``exchange, board, is_st, industry, name, list_date`` (``meta`` first, then the
    bundled security table, then the code's prefix)."""
    syms = [str(s) for s in symbols]
    rows = [_code_info(s) for s in syms]
    info = pd.DataFrame(rows, columns=["exchange", "board", "is_st", "industry", "name"],
                        index=pd.Index(syms, name="symbol"))
    info["list_date"] = pd.NaT
    if meta is not None and len(meta) and meta.index.is_unique:
        for c in ("exchange", "board", "is_st", "industry", "name", "list_date"):
            if c in meta.columns:
                v = meta[c].reindex(info.index)
                info[c] = v.where(v.notna(), info[c]) if c != "list_date" else v
        info["is_st"] = info["is_st"].astype(bool)
    info["list_date"] = pd.to_datetime(info["list_date"], errors="coerce")
    return info


def assign_benchmarks(info: pd.DataFrame, available: Iterable[str],
                      mapping: Mapping[str, str] | None = None,
                      overrides: Mapping[str, str] | None = None,
                      table: Mapping[tuple[str, str], str] | None = None) -> pd.Series:
    """Index id per symbol: explicit ``mapping`` (symbol → id) when available, else the board rule
    (``rules.resolve_benchmark`` with ``overrides`` such as ``{"SZ.main": "399001.SZ"}``)."""
    from .rules import DEFAULT_BENCHMARKS, resolve_benchmark

    avail = set(available)
    tab = table or DEFAULT_BENCHMARKS
    keys = list(zip(info["exchange"].tolist(), info["board"].tolist()))
    # one resolution per distinct (exchange, board) or (exchange, board, explicit id), not per symbol
    by_board = {k: resolve_benchmark(k[0], k[1], avail, overrides, tab) for k in dict.fromkeys(keys)}
    out = [by_board[k] for k in keys]
    if mapping:
        get = mapping.get
        by_explicit: dict = {}
        for i, sym in enumerate(info.index.tolist()):
            explicit = get(sym)
            if explicit is None or pd.isna(explicit):
                continue
            k = keys[i] + (explicit,)
            if k not in by_explicit:
                ex, bd = keys[i]
                by_explicit[k] = explicit if explicit in avail else resolve_benchmark(
                    ex, bd, avail, {f"{ex}.{bd}": explicit}, tab)
            out[i] = by_explicit[k]
    return pd.Series(out, index=info.index, dtype=object)


def index_returns(index_bars: pd.DataFrame | None, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Days × index id frame of index simple returns (close / prev_close − 1) on ``days``."""
    if index_bars is None or not len(index_bars):
        return pd.DataFrame(index=days)
    ib = index_bars.copy()
    if "prev_close" not in ib or ib["prev_close"].isna().any():
        derived = ib.sort_values(["symbol", "ts"]).groupby("symbol")["close"].shift(1)
        ib["prev_close"] = ib.get("prev_close", pd.Series(np.nan, index=ib.index)).fillna(derived)
    ib["r"] = ib["close"] / ib["prev_close"] - 1.0
    ts = pd.DatetimeIndex(ib["ts"])
    if ts.tz is None:
        ts = ts.tz_localize(TZ)
    ib["ts"] = ts.tz_convert(TZ).normalize() + pd.Timedelta(hours=15)
    wide = ib.pivot_table(index="ts", columns="symbol", values="r", aggfunc="last")
    key = days.normalize() + pd.Timedelta(hours=15) if len(days) else days
    wide.index = pd.DatetimeIndex(wide.index).as_unit("ns")
    return wide.reindex(pd.DatetimeIndex(key).as_unit("ns")).set_axis(days, axis=0)


def interval_market_returns(panel: Panel, idx_ret: pd.DataFrame, bench: pd.Series) -> np.ndarray:
    """Long array: the benchmark's return over each bar's own return interval (prev bar, this bar].

    Equal to the index's daily return on ordinary days and compounded over the missing days after
    a suspension, so a stock's multi-day return is compared with the market's same-span return.
    NaN where the symbol has no benchmark or the index has a gap.
    """
    n = len(panel.bars)
    out = np.full(n, np.nan)
    if not len(idx_ret.columns) or n == 0:
        return out
    ids = list(idx_ret.columns)
    R = idx_ret.to_numpy(dtype=float)                   # T × K
    # A −100 % index "return" (corrupt bars) makes log1p −inf and later differences NaN: no figure
    # for those bars, and no numpy warning in a nightly log.
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.vstack([np.zeros((1, R.shape[1])), np.cumsum(np.log1p(np.nan_to_num(R, nan=0.0)), axis=0)])
    bad = np.vstack([np.zeros((1, R.shape[1])), np.cumsum(np.isnan(R), axis=0)])
    kcol = pd.Series(bench.reindex(panel.symbols).to_numpy()).map({k: i for i, k in enumerate(ids)})
    k = kcol.to_numpy()[panel.col]
    ok = ~pd.isna(k) & (panel.prev_row >= 0)
    kk = np.where(ok, k, 0).astype(np.int64)
    t1 = panel.row + 1
    t0 = np.where(ok, panel.prev_row + 1, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        val = np.exp(L[t1, kk] - L[t0, kk]) - 1.0
    gaps = bad[t1, kk] - bad[t0, kk]
    out[ok] = np.where(gaps[ok] > 0, np.nan, val[ok])
    # first bar of a symbol (prev_close from the source): the index's return of that day
    first = ~pd.isna(k) & (panel.prev_row < 0)
    if first.any():
        out[first] = R[panel.row[first], np.asarray(k[first], dtype=np.int64)]
    return out


# --- the panel estimator ------------------------------------------------------------------------


def t_pvalue(t, dof):
    """Two-sided Student-t p-value 2·P(T_dof > |t|) (NaN where t or dof is NaN)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore"):
        return 2.0 * special.stdtr(dof, -np.abs(t))


def _window_sums(v: np.ndarray, a: int, b: int) -> np.ndarray:
    """Row t holds Σ v[t+a .. t+b] (rows outside the array count as zero)."""
    T = v.shape[0]
    C = np.zeros((T + 1,) + v.shape[1:])
    np.cumsum(v, axis=0, out=C[1:])
    t = np.arange(T)
    hi = np.clip(t + b + 1, 0, T)
    lo = np.clip(t + a, 0, T)
    return C[hi] - C[lo]


def market_model_panel(stock_ret, market_ret, est: tuple[int, int] = EST_WINDOW, exclude=None,
                       event_stock_ret=None, event_market_ret=None, min_obs: int = 120,
                       pvalues: bool = True) -> dict:
    """Market model for every (day, symbol) of a days × symbols panel at once.

    ``stock_ret``: days × symbols simple returns (NaN = no bar). ``market_ret``: the benchmark's
    return aligned to each stock (days × symbols, or days for a common benchmark). ``exclude``:
    boolean days × symbols mask of days not to use in estimation (limit-hit, post-suspension).
    ``event_stock_ret`` / ``event_market_ret`` default to the estimation inputs (pass the unmasked
    returns and the interval market returns to evaluate the event day itself).

    Returns a dict of days × symbols arrays (DataFrames if ``stock_ret`` is one): ``n, alpha,
    beta, sigma2, sigma, xbar, sxx, ar, var_pred, t, p, expected, market_return, stock_return,
    mar, mar_sigma, mar_t, mar_p``; cells with fewer than ``min_obs`` estimation pairs are NaN.
    ``pvalues=False`` skips the (costly) Student-t tails: ``p``/``mar_p`` are then NaN and callers
    use ``t_pvalue`` on the cells they report.
    """
    frame = isinstance(stock_ret, pd.DataFrame)
    idx = stock_ret.index if frame else None
    cols = stock_ret.columns if frame else None
    y = np.asarray(stock_ret, dtype=float)
    x = np.asarray(market_ret, dtype=float)
    if x.ndim == 1:
        x = np.repeat(x[:, None], y.shape[1], axis=1)
    if x.shape != y.shape:
        raise BadInput(f"market returns shape {x.shape} does not match stock returns {y.shape}")
    ye = y if event_stock_ret is None else np.asarray(event_stock_ret, dtype=float)
    xe = x if event_market_ret is None else np.asarray(event_market_ret, dtype=float)
    if xe.ndim == 1:
        xe = np.repeat(xe[:, None], y.shape[1], axis=1)
    a, b = est
    if not a <= b < 0:
        raise BadInput(f"estimation window {est} must satisfy start <= end < 0")
    valid = np.isfinite(y) & np.isfinite(x)
    if exclude is not None:
        valid &= ~np.asarray(exclude, dtype=bool)
    yv = np.where(valid, y, 0.0)
    xv = np.where(valid, x, 0.0)
    n = _window_sums(valid.astype(float), a, b)
    sx = _window_sums(xv, a, b)
    sy = _window_sums(yv, a, b)
    sxx = _window_sums(xv * xv, a, b)
    sxy = _window_sums(xv * yv, a, b)
    syy = _window_sums(yv * yv, a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = n >= max(min_obs, 3)
        nn = np.where(ok, n, np.nan)
        xbar = sx / nn
        ybar = sy / nn
        cxx = sxx - nn * xbar * xbar
        cxy = sxy - nn * xbar * ybar
        cyy = syy - nn * ybar * ybar
        beta = cxy / cxx
        alpha = ybar - beta * xbar
        ssr = np.maximum(cyy - beta * cxy, 0.0)
        sigma2 = ssr / (nn - 2)
        expected = alpha + beta * xe
        ar = ye - expected
        var_pred = sigma2 * (1.0 + 1.0 / nn + (xe - xbar) ** 2 / cxx)
        t = ar / np.sqrt(var_pred)
        p = t_pvalue(t, nn - 2) if pvalues else np.full_like(t, np.nan)
        # market-adjusted: d = y − x, sample variance over the same window
        sd = sy - sx
        sdd = syy - 2 * sxy + sxx
        dbar = sd / nn
        mar_var = np.maximum(sdd - nn * dbar * dbar, 0.0) / (nn - 1)
        mar = ye - xe
        mar_sigma = np.sqrt(mar_var)
        mar_t = mar / mar_sigma
        mar_p = t_pvalue(mar_t, nn - 1) if pvalues else np.full_like(mar_t, np.nan)
    out = dict(n=np.where(ok, n, np.nan), alpha=alpha, beta=beta, sigma2=sigma2, sigma=np.sqrt(sigma2),
               xbar=xbar, sxx=cxx, ar=ar, var_pred=var_pred, t=t, p=p, expected=expected,
               market_return=xe, stock_return=ye, mar=mar, mar_sigma=mar_sigma, mar_t=mar_t, mar_p=mar_p)
    if frame:
        out = {k: pd.DataFrame(v, index=idx, columns=cols) for k, v in out.items()}
    return out


def market_model_loop(stock_ret, market_ret, est: tuple[int, int] = EST_WINDOW, exclude=None,
                      min_obs: int = 120, days=None) -> dict:
    """BASELINE ONLY (for benchmarks and tests): the same estimates as ``market_model_panel`` by a
    per-symbol, per-day ``statsmodels`` OLS loop. ``days``: row positions to evaluate (default all).

    Returns ``{"alpha", "beta", "sigma2", "n", "ar", "t"}`` arrays shaped like ``stock_ret``
    (NaN where not evaluated or too few observations). Orders of magnitude slower than the panel.
    """
    import statsmodels.api as sm

    y = np.asarray(stock_ret, dtype=float)
    x = np.asarray(market_ret, dtype=float)
    if x.ndim == 1:
        x = np.repeat(x[:, None], y.shape[1], axis=1)
    ex = np.zeros(y.shape, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    T, N = y.shape
    out = {k: np.full((T, N), np.nan) for k in ("alpha", "beta", "sigma2", "n", "ar", "t")}
    a, b = est
    for j in range(N):
        for t in (range(T) if days is None else days):
            rows = np.arange(max(t + a, 0), max(t + b + 1, 0))
            rows = rows[np.isfinite(y[rows, j]) & np.isfinite(x[rows, j]) & ~ex[rows, j]]
            if len(rows) < max(min_obs, 3):
                continue
            res = sm.OLS(y[rows, j], sm.add_constant(x[rows, j], has_constant="add")).fit()
            al, be = res.params
            out["alpha"][t, j], out["beta"][t, j], out["sigma2"][t, j], out["n"][t, j] = al, be, res.scale, len(rows)
            if np.isfinite(y[t, j]) and np.isfinite(x[t, j]):
                pred = res.get_prediction(np.array([[1.0, x[t, j]]]))
                out["ar"][t, j] = y[t, j] - pred.predicted_mean[0]
                out["t"][t, j] = out["ar"][t, j] / pred.se_obs[0]
    return out


# --- one event ----------------------------------------------------------------------------------


def _as_day_series(s: pd.Series, what: str) -> pd.Series:
    if not isinstance(s, pd.Series):
        raise BadInput(f"{what} must be a pandas Series indexed by date")
    idx = pd.DatetimeIndex(pd.to_datetime(s.index))
    if idx.tz is not None:
        idx = idx.tz_convert(TZ).tz_localize(None)
    out = pd.Series(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), index=idx.normalize())
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out


def _day(d) -> pd.Timestamp:
    try:
        t = pd.Timestamp(d)
    except (TypeError, ValueError):
        raise BadInput(f"not a date: {d!r}") from None
    if t.tzinfo is not None:
        t = t.tz_convert(TZ).tz_localize(None)
    return t.normalize()


def _f(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


def estimation_rows(yv: np.ndarray, xv: np.ndarray, exclude: np.ndarray, t0: int,
                    est: tuple[int, int] = EST_WINDOW) -> np.ndarray:
    """Positions of the estimation window [t0 + a, t0 + b] on which both returns exist and the day is
    not excluded; the arrays are aligned on the index's trading days."""
    a, b = est
    lo, hi = max(t0 + a, 0), min(t0 + b, len(xv) - 1)     # a window may reach past the data
    sel = np.arange(lo, hi + 1) if hi >= lo else np.array([], dtype=int)
    return sel[np.isfinite(yv[sel]) & np.isfinite(xv[sel]) & ~exclude[sel]] if len(sel) else sel


def ols(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float, float, float, float, float]:
    """The market-model OLS on n ≥ 3 pairs: (α, β, σ², x̄, Sxx, SSR, Syy)."""
    n = len(xs)
    xbar, ybar = xs.mean(), ys.mean()
    sxx = float(((xs - xbar) ** 2).sum())
    if not (sxx > 0 and np.ptp(xs) > 0):
        raise BadInput(f"the market returns do not vary over the {n} estimation days; no market model")
    sxy = float(((xs - xbar) * (ys - ybar)).sum())
    syy = float(((ys - ybar) ** 2).sum())
    beta = sxy / sxx
    alpha = ybar - beta * xbar
    ssr = max(syy - beta * sxy, 0.0)
    return float(alpha), float(beta), ssr / (n - 2), float(xbar), sxx, ssr, syy


def fit_event(stock_ret: pd.Series, index_ret: pd.Series, event_day,
              est: tuple[int, int] = EST_WINDOW,
              windows: Iterable[tuple[int, int]] = ((0, 0), (-1, 1), (0, 5)), *,
              exclude: pd.Series | None = None, min_obs: int = 60,
              benchmark: str | None = None) -> dict:
    """Market-model event study of one stock around one day.

    ``stock_ret`` / ``index_ret``: simple daily returns indexed by date (or 15:00 timestamps); the
    index's dates are the trading calendar (a stock date missing there is ignored; an index date
    missing in the stock is a suspension: no AR that day). ``event_day`` must be an index date.
    Offsets in ``est`` and ``windows`` are in trading days relative to the event (0 = event day).
    ``exclude``: boolean Series of stock dates not to use for estimation (limit-hit days…).

    Returns a JSON-able dict::

        event_day   "YYYY-MM-DD"
        benchmark   index id (``benchmark`` or ``index_ret.name``)
        estimation  {start, end, n, dof, alpha, beta, sigma, sigma2, r2, mean_market, sxx, window}
        ar, t, p    event-day abnormal return, its t-statistic (prediction-error variance) and
                    two-sided p-value (Student t, n − 2 dof); None when the stock did not trade
        stock_return, market_return, expected, market_adjusted_return   event-day figures
        windows     [{window "[a,b]", start, end, days, car, se, t, p, complete}] where
                    Var(CAR) = σ²(L + L²/n + (Σ(R_m − x̄))²/Sxx) over the L days with a return;
                    ``complete`` is False when the window runs past the data or over suspensions
        daily       [{date, tau, stock_return, market_return, expected, ar}] for every day of the
                    union of windows
        error       present only when the estimate failed (too few estimation days)
    """
    y = _as_day_series(stock_ret, "stock_ret")
    x = _as_day_series(index_ret, "index_ret").dropna()
    ev = _day(event_day)
    cal = x.index
    if ev not in cal:
        raise BadInput(f"{ev.date()} is not a day of the index returns (not a trading day, or "
                       "outside the loaded range)")
    y = y.reindex(cal)
    ex = np.zeros(len(cal), dtype=bool)
    if exclude is not None:
        e = _as_day_series(exclude.astype(float), "exclude").reindex(cal)
        ex = e.fillna(0).to_numpy() > 0
    t0 = int(cal.get_loc(ev))
    a, b = est
    yv, xv = y.to_numpy(), x.to_numpy()
    sel = estimation_rows(yv, xv, ex, t0, est)
    n = len(sel)
    out: dict = {"event_day": str(ev.date()), "benchmark": benchmark or (index_ret.name if index_ret.name else None)}
    est_info = {"start": str(cal[sel[0]].date()) if n else None,
                "end": str(cal[sel[-1]].date()) if n else None, "n": int(n), "dof": int(max(n - 2, 0)),
                "window": [int(a), int(b)]}
    windows = [tuple(int(v) for v in w) for w in windows]
    if n < max(min_obs, 3):
        est_info.update(alpha=None, beta=None, sigma=None, sigma2=None, r2=None, mean_market=None, sxx=None)
        out.update(estimation=est_info, ar=None, t=None, p=None, stock_return=_f(yv[t0]),
                   market_return=_f(xv[t0]), expected=None,
                   market_adjusted_return=_f(yv[t0] - xv[t0]),
                   windows=[], daily=[], error=f"only {n} estimation days (need {max(min_obs, 3)})")
        return out
    alpha, beta, sigma2, xbar, sxx, ssr, syy = ols(xv[sel], yv[sel])
    est_info.update(alpha=float(alpha), beta=float(beta), sigma=float(np.sqrt(sigma2)), sigma2=float(sigma2),
                    r2=float(1 - ssr / syy) if syy > 0 else None, mean_market=float(xbar), sxx=sxx)
    dof = n - 2

    def pval(tv):
        return None if tv is None or not np.isfinite(tv) else float(2 * special.stdtr(dof, -abs(tv)))

    exp0 = alpha + beta * xv[t0]
    ar0 = yv[t0] - exp0
    v0 = sigma2 * (1 + 1 / n + (xv[t0] - xbar) ** 2 / sxx)
    t_0 = ar0 / np.sqrt(v0) if np.isfinite(ar0) else np.nan
    out.update(estimation=est_info, ar=_f(ar0), t=_f(t_0), p=pval(t_0), stock_return=_f(yv[t0]),
               market_return=_f(xv[t0]), expected=_f(exp0), market_adjusted_return=_f(yv[t0] - xv[t0]))
    wins, daily_taus = [], set()
    for w0, w1 in windows:
        if w1 < w0:
            raise BadInput(f"event window [{w0},{w1}] ends before it starts")
        taus = np.arange(w0, w1 + 1)
        rows = t0 + taus
        inside = (rows >= 0) & (rows < len(cal))
        rows_in = rows[inside]
        daily_taus.update(int(v) for v in taus[inside])
        ar = yv[rows_in] - (alpha + beta * xv[rows_in])
        have = np.isfinite(ar)
        L = int(have.sum())
        car = float(ar[have].sum()) if L else np.nan
        dev = float((xv[rows_in][have] - xbar).sum())
        var = sigma2 * (L + L * L / n + dev * dev / sxx) if L else np.nan
        se = np.sqrt(var) if L else np.nan
        tv = car / se if L else np.nan
        wins.append({"window": f"[{w0},{w1}]",
                     "start": str(cal[rows_in[0]].date()) if len(rows_in) else None,
                     "end": str(cal[rows_in[-1]].date()) if len(rows_in) else None,
                     "days": L, "car": _f(car), "se": _f(se), "t": _f(tv), "p": pval(tv),
                     "complete": bool(inside.all() and have.all())})
    daily = []
    for tau in sorted(daily_taus):
        r = t0 + tau
        e = alpha + beta * xv[r]
        daily.append({"date": str(cal[r].date()), "tau": tau, "stock_return": _f(yv[r]),
                      "market_return": _f(xv[r]), "expected": _f(e), "ar": _f(yv[r] - e)})
    out.update(windows=wins, daily=daily)
    return out


def returns_series(bars: pd.DataFrame, symbol: str) -> pd.Series:
    """Simple daily returns of one symbol from canonical bars, indexed by trade date."""
    rows = bars[bars["symbol"] == symbol].sort_values("ts")
    if rows.empty:
        raise BadInput(f"no bars for {symbol}")
    pc = rows["prev_close"].where(rows["prev_close"].notna(), rows["close"].shift(1))
    r = rows["close"].to_numpy() / pc.to_numpy() - 1.0
    idx = pd.DatetimeIndex(rows["ts"]).tz_convert(TZ).tz_localize(None).normalize()
    return pd.Series(r, index=idx, name=symbol)


def closed_at_limit(prev_close, close, board: str, st: bool, days) -> np.ndarray:
    """Per bar: closed at the board's limit-up or limit-down price (in whole cents; no limit → False)."""
    from .rules import limit_pct_array, limit_prices

    n = len(close)
    pct = limit_pct_array(np.full(n, board, dtype=object), np.full(n, st), np.asarray(days, dtype="datetime64[D]"))
    up, down = limit_prices(np.asarray(prev_close, dtype=float), pct)
    c = np.rint(np.asarray(close, dtype=float) * 100)
    with np.errstate(invalid="ignore"):
        return np.isfinite(up) & ((c >= np.rint(up * 100)) | (c <= np.rint(down * 100)))


def limit_hit_days(bars: pd.DataFrame, symbol: str, board: str | None = None, st: bool = False) -> pd.Series:
    """Boolean Series (by trade date): the symbol closed at its limit-up or limit-down price."""
    from .symbols import resolve

    rows = bars[bars["symbol"] == symbol].sort_values("ts")
    board = board or resolve(symbol).board
    d = pd.DatetimeIndex(rows["ts"]).tz_convert(TZ).tz_localize(None).normalize()
    hit = closed_at_limit(rows["prev_close"].to_numpy(dtype=float), rows["close"].to_numpy(dtype=float), board, st,
                          d.to_numpy())
    return pd.Series(hit, index=d, name=symbol)


# --- everything a daily detector needs, computed once per call ----------------------------------


@dataclass
class DailyInputs:
    """Long arrays (aligned with ``panel.bars``) shared by the daily detectors.

    ``ret`` simple return; ``mkt`` benchmark return over the same interval (``interval_market_
    returns``); ``idx_day`` the benchmark's own return that day; ``bench`` symbol → index id;
    ``info`` per-symbol exchange/board/is_st/industry; limit state from ``rules.limit_flags``;
    ``gap`` the bar's return spans a suspension; ``is_stock`` False for index symbols.
    """

    panel: Panel
    info: pd.DataFrame
    ret: np.ndarray
    day: np.ndarray
    bench: pd.Series
    idx_ret: pd.DataFrame
    mkt: np.ndarray
    idx_day: np.ndarray
    limits: dict
    gap: np.ndarray
    board: np.ndarray
    st: np.ndarray
    is_stock: np.ndarray
    memo: dict = field(default_factory=dict, repr=False, compare=False)   # derived arrays shared by detectors

    def board_in(self, boards) -> np.ndarray:
        """Long bool: the bar's symbol is on one of ``boards``."""
        sym_ok = self.info["board"].isin(list(boards)).to_numpy()
        return sym_ok[self.panel.col]

    @property
    def unreliable(self) -> np.ndarray:
        """Long bool: the bar's return against ``prev_close`` is not a market move.

        Stocks whose day range leaves the limit band: an IPO day without limit, or an ex-rights
        day on which the source's ``prev_close`` is the raw previous close instead of the
        exchange's adjusted 前收盘价 (e.g. 10送5: every price −33 %). Detectors skip these bars.
        """
        return self.limits["no_limit"] & self.is_stock

    def estimation_mask(self) -> np.ndarray:
        """Long bool: bars not to use for estimation (limit close, gap, no-limit day, no return)."""
        lim = self.limits
        return (lim["closed_up"] | lim["closed_down"] | lim["no_limit"] | self.gap
                | ~np.isfinite(self.ret))


_CACHE: dict = {}


def _fingerprint(df: pd.DataFrame | None) -> tuple:
    """A cheap content key of a bars frame (length, symbols, timestamps and column sums)."""
    if df is None:
        return (None,)
    if not len(df):
        return (0,)
    sums = []
    for c in ("open", "high", "low", "close", "prev_close", "volume", "amount", "turnover"):
        if c in df.columns:
            v = df[c].to_numpy(dtype=float)
            sums += [float(np.nansum(v)), int(np.isnan(v).sum())]
    c = df["close"].to_numpy(dtype=float)
    sums.append(float(np.dot(c, np.arange(1.0, len(c) + 1.0))))
    sym = df["symbol"]
    first_last = (str(sym.iloc[0]), str(sym.iloc[-1]))
    nsym = sym.nunique()
    ts = pd.DatetimeIndex(df["ts"]).as_unit("ns").asi8
    return (len(df), first_last, nsym, int(ts.sum() % (1 << 61)),
            int(np.dot(ts % 1_000_003, np.arange(len(ts)) % 1_000_003) % (1 << 61)), tuple(sums))


def clear_cache() -> None:
    """Drop the cached ``daily_inputs`` (it holds one panel's arrays between detector calls)."""
    _CACHE.clear()


class _Scopes(threading.local):
    """The open ``shared_inputs()`` blocks of this thread (innermost last)."""

    def __init__(self):
        self.stack: list[dict] = []


_SCOPES_TL = _Scopes()


def _scopes() -> list[dict]:
    return _SCOPES_TL.stack


@contextmanager
def shared_inputs():
    """Share ``daily_inputs`` between the detectors of one run by the *identity* of the frames.

    ``detect.run_detectors`` opens this around its detector calls: the validated bars, index bars,
    benchmark mapping and meta are the same objects for every detector and nobody modifies them
    meanwhile, so the panel is built once without hashing 1.3 M rows per detector to find it
    again. The shared arrays are freed when the block ends.
    """
    stack = _scopes()
    stack.append({})
    try:
        yield
    finally:
        stack.pop()


def scope_memo(key, keep: tuple, build):
    """``build()``, shared inside the innermost ``shared_inputs()`` block by ``key``.

    ``keep`` holds the objects whose identity ``key`` stands for (they are kept alive with the entry,
    so an ``id`` in the key cannot be reused meanwhile). Outside a block this is just ``build()``.
    """
    stack = _scopes()
    if not stack:
        return build()
    scope = stack[-1]
    hit = scope.get(key)
    if hit is not None and len(hit[0]) == len(keep) and all(a is b for a, b in zip(hit[0], keep)):
        return hit[1]
    out = build()
    scope[key] = (keep, out)
    return out


def sorted_codes(df: pd.DataFrame) -> tuple[np.ndarray, pd.Index] | None:
    """``(codes, symbols)`` when ``df`` is already ordered by (symbol, ts) with ``ts`` strictly
    increasing per symbol, else None. ``symbols`` are then sorted and ``codes`` (int64) number the
    rows' symbols in that order — what ``pd.factorize(df["symbol"], sort=True)`` gives, without a
    sort. Shared inside ``shared_inputs()``: the symbol column is factorised once per run."""
    return scope_memo(("sorted_codes", id(df)), (df,), lambda: _sorted_codes(df))


def _sorted_codes(df: pd.DataFrame) -> tuple[np.ndarray, pd.Index] | None:
    codes, uniq = pd.factorize(df["symbol"], sort=False)      # codes in order of appearance
    codes = codes.astype(np.int64, copy=False)
    if len(df) < 2:
        return codes, pd.Index(uniq)
    if (codes[1:] < codes[:-1]).any():              # boolean comparisons: no int64 temporaries
        return None
    labels = list(uniq)
    if labels != sorted(labels):
        return None
    ns = pd.DatetimeIndex(df["ts"]).as_unit("ns").asi8
    if not np.all((codes[1:] > codes[:-1]) | (ns[1:] > ns[:-1])):
        return None
    return codes, pd.Index(uniq)


def _small_key(d: Mapping | None) -> tuple:
    return tuple(sorted((d or {}).items()))


def daily_inputs(bars: pd.DataFrame, index_bars: pd.DataFrame | None = None,
                 benchmark: Mapping[str, str] | None = None, meta: pd.DataFrame | None = None,
                 overrides: Mapping[str, str] | None = None,
                 table: Mapping[tuple[str, str], str] | None = None) -> DailyInputs:
    """Build the shared arrays from validated canonical daily bars and the detector context.

    Several detectors run over the same bars in one scan. Inside ``shared_inputs()`` (as
    ``run_detectors`` does) the result is kept for the block, keyed by the identity of the frames;
    otherwise the last result is kept (one entry, keyed by a content fingerprint of the bars, the
    index bars and the other arguments) so the panel is built once. ``clear_cache()`` frees it.
    """
    if _scopes():
        key = ("daily_inputs", id(bars), id(index_bars), id(benchmark), id(meta), _small_key(overrides),
               _small_key(table))
        return scope_memo(key, (bars, index_bars, benchmark, meta),
                          lambda: _daily_inputs(bars, index_bars, benchmark, meta, overrides, table))
    key = (_fingerprint(bars), _fingerprint(index_bars),
           tuple(sorted((benchmark or {}).items())), _meta_key(meta),
           tuple(sorted((overrides or {}).items())), tuple(sorted((table or {}).items())))
    hit = _CACHE.get("inputs")
    if hit is not None and hit[0] == key:
        return hit[1]
    out = _daily_inputs(bars, index_bars, benchmark, meta, overrides, table)
    _CACHE["inputs"] = (key, out)
    return out


def _meta_key(meta: pd.DataFrame | None) -> tuple:
    if meta is None or not len(meta):
        return (None,)
    return (len(meta), hash(tuple(meta.index.astype(str))),
            hash(tuple(map(str, meta.to_numpy().ravel().tolist()))))


def _daily_inputs(bars, index_bars, benchmark, meta, overrides, table) -> DailyInputs:
    from .rules import ipo_no_limit_days, limit_flags

    ib = index_bars if index_bars is not None and len(index_bars) else None
    extra = None
    if ib is not None:
        extra = pd.DatetimeIndex(ib["ts"]).unique()
    panel = wide_panel(bars, extra_days=extra)
    info = symbol_info(list(panel.symbols), meta)
    idx_ret = index_returns(ib, panel.days)
    available = [c for c in idx_ret.columns if idx_ret[c].notna().any()]
    bench = assign_benchmarks(info, available, benchmark, overrides, table)
    bench[info["board"].eq("index").to_numpy()] = None  # an index is not measured against itself
    ret = simple_returns(panel)
    mkt = interval_market_returns(panel, idx_ret, bench)
    # the benchmark's own daily return that day (the regulator's 偏离值 uses the daily change)
    idx_day = np.full(len(panel.bars), np.nan)
    if len(idx_ret.columns):
        kmap = {k: i for i, k in enumerate(idx_ret.columns)}
        k = pd.Series(bench.to_numpy()).map(kmap).to_numpy()[panel.col]
        okk = ~pd.isna(k)
        R = idx_ret.to_numpy(dtype=float)
        idx_day[okk] = R[panel.row[okk], k[okk].astype(np.int64)]
    board = info["board"].to_numpy(dtype=object)[panel.col]  # object array: use board_in() to test
    st = info["is_st"].to_numpy(dtype=bool)[panel.col]
    day = pd.DatetimeIndex(panel.bars["ts"]).tz_convert(TZ).tz_localize(None).normalize().to_numpy(
        dtype="datetime64[D]")
    # IPO days without a limit, when a listing date is known
    no_limit = np.zeros(len(panel.bars), dtype=bool)
    ld = info["list_date"]
    if ld.notna().any():
        ld_long = ld.to_numpy(dtype="datetime64[ns]")[panel.col].astype("datetime64[D]")
        listed = ~np.isnat(ld_long) & (day >= ld_long)
        since = pd.Series(listed.astype(int)).groupby(panel.col).cumsum().to_numpy() - 1
        kdays = np.array([ipo_no_limit_days(b, pd.Timestamp(d).date()) if not pd.isna(d) else 0
                          for b, d in zip(info["board"], ld)])[panel.col]
        no_limit = listed & (since < kdays)
    lim = limit_flags(board, st, day, panel.col_values("prev_close"), panel.col_values("high"),
                      panel.col_values("low"), panel.col_values("close"), no_limit)
    gap = (panel.prev_row >= 0) & (panel.row - panel.prev_row > 1)
    is_stock = (board != "index")
    for arr in (ret, mkt, idx_day, gap, board, st, is_stock, day, panel.row, panel.col, panel.pos,
                panel.prev_row, *lim.values()):
        arr.flags.writeable = False  # shared between detectors through the cache
    return DailyInputs(panel, info, ret, day, bench, idx_ret, mkt, idx_day, lim, gap, board, st, is_stock)


def trailing_robust(packed: np.ndarray, p: np.ndarray, j: np.ndarray, window: int,
                    min_periods: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median, MAD, count and robust σ of ``packed[p-window:p, j]`` (the symbol's previous
    ``window`` bars, NaN ignored) for each requested cell — exact, vectorised over the cells (a
    cells × window gather, so call it for candidate cells only).

    σ = 1.4826 · MAD, or 1.2533 · mean |x − median| when the MAD is 0 (more than half the window
    identical, e.g. a run of equal volumes); NaN when both are 0. Cells with fewer than
    ``min_periods`` values get NaN.
    """
    if len(p) == 0:
        e = np.array([], dtype=float)
        return e, e, e, e
    p = np.asarray(p, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    P = packed.shape[0]
    rows = p[:, None] + np.arange(-window, 0)[None, :]
    # gather from the symbols × positions layout: each cell's window is then one contiguous run
    flat = rows + (j * P)[:, None]
    short = bool((p < window).any())
    if short:
        ok = rows >= 0
        flat[~ok] = 0
    vals = np.ascontiguousarray(packed.T).ravel().take(flat)   # cells × window, in window order
    if short:
        vals[~ok] = np.nan
    cnt = np.count_nonzero(np.isfinite(vals), axis=1)
    med = _sorted_median(vals, cnt)
    dev = np.abs(vals - med[:, None])
    mad = _sorted_median(dev, cnt)
    sigma = np.where(mad > 0, 1.4826 * mad, np.nan)
    zero = np.flatnonzero(~(mad > 0))
    if len(zero):     # MAD 0 (or no values): 1.2533 · mean absolute deviation (same sums, row by row)
        with np.errstate(invalid="ignore", divide="ignore"):
            meanad = np.nansum(dev[zero], axis=1) / cnt[zero]
        sigma[zero] = np.where(meanad > 0, 1.2533 * meanad, np.nan)
    bad = cnt < max(min_periods, 1)
    for a in (med, mad, sigma):
        a[bad] = np.nan
    return med, mad, cnt.astype(float), sigma


def _sorted_median(vals: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN (NaN sorts last), same as ``np.nanmedian`` but faster (numpy's
    vectorised sort of short rows beats ``np.partition`` here)."""
    s = np.sort(vals, axis=1)
    c = np.maximum(cnt, 1)
    lo = np.take_along_axis(s, ((c - 1) // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(s, (c // 2)[:, None], axis=1)[:, 0]
    out = (lo + hi) / 2.0
    out[cnt == 0] = np.nan
    return out


def trailing_median_lower_bound(packed: np.ndarray, window: int) -> np.ndarray:
    """A cheap lower bound, for every packed cell, of the median of the previous ``window`` values
    of a *non-negative* series (NaN ignored): the largest minimum over the contiguous blocks of
    ``s = window − (window − 1) // 2`` rows inside that window.

    Why it is a bound: a block of s finite values out of the window's c values has its minimum at
    rank ≤ c − s ≤ (c − 1) // 2 (for every c ≤ window), i.e. at or below the lower middle order
    statistic, hence at or below the median. Missing values and rows before the symbol's first
    bar count as 0, which only lowers the bound. Used to screen cells before ``trailing_robust``.
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    s = window - (window - 1) // 2
    x = np.where(np.isfinite(packed), packed, 0.0)
    # bm[e] = min(x[e-s+1 .. e]): the block ending at row e (rows before 0 count as 0)
    bm = minimum_filter1d(x, size=s, axis=0, origin=(s - 1) // 2, mode="constant", cval=0.0)
    k = window - s + 1                       # blocks ending at rows t-k .. t-1 lie inside [t-window, t)
    mx = maximum_filter1d(bm, size=k, axis=0, origin=(k - 1) // 2, mode="constant", cval=0.0)
    out = np.zeros_like(x)
    out[1:] = mx[:-1]
    return out


def rounded(values, nd: int = 6) -> list:
    """JSON-able list of rounded floats (None for NaN/inf)."""
    a = np.round(np.asarray(values, dtype=float), nd)
    a = np.where(np.isfinite(a), a, np.nan)
    return [None if v != v else v for v in a.tolist()]


def column_details(n: int, columns: Mapping[str, list], constants: Mapping | None = None) -> list[dict]:
    """``n`` detail dicts from per-record value lists (``columns``) plus shared ``constants``."""
    names = list(columns)
    lists = [columns[k] for k in names]
    const = dict(constants or {})
    if not lists:
        return [dict(const) for _ in range(n)]
    if const:
        return [{**dict(zip(names, vals)), **const} for vals in zip(*lists)]
    return [dict(zip(names, vals)) for vals in zip(*lists)]


def records_frame(panel: Panel, idx: np.ndarray, kind, magnitude, reference: str, score, p_value,
                  details: list[dict]) -> pd.DataFrame:
    """Anomaly records for long rows ``idx`` (start = end = the daily bar's timestamp), built
    column-wise: ``start``/``end`` keep the bars' tz-aware datetime64 dtype, so nothing is
    re-parsed from Timestamp objects; non-finite p-values become NaN."""
    idx = np.asarray(idx, dtype=np.int64)
    n = len(idx)
    sym = panel.bars["symbol"].take(idx).to_numpy()
    ts = panel.bars["ts"].take(idx).array
    kinds = [kind] * n if isinstance(kind, str) else list(kind)
    mags = np.array(np.broadcast_to(np.asarray(magnitude, dtype=float), (n,)))
    scores = np.array(np.broadcast_to(np.asarray(score, dtype=float), (n,)))
    pv = np.array(np.broadcast_to(np.asarray(p_value if p_value is not None else np.nan, dtype=float), (n,)))
    pv[~np.isfinite(pv)] = np.nan
    det = np.empty(n, dtype=object)
    det[:] = details
    return pd.DataFrame({"symbol": pd.array(sym, dtype="str"), "kind": pd.array(kinds, dtype="str"),
                         "start": ts, "end": ts.copy(), "magnitude": mags,
                         "reference": pd.array([reference] * n, dtype="str"), "score": scores,
                         "p_value": pv, "details": det})


def concat_records(parts) -> pd.DataFrame | list:
    """One record frame from ``records_frame`` parts in order (``[]`` when there are none)."""
    parts = [f for f in parts if len(f)]
    if not parts:
        return []
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def clean(v, nd: int = 6):
    """JSON-able rounding of a number (None for NaN)."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if not np.isfinite(f):
        return None
    return round(f, nd)


__all__ = ["EST_WINDOW", "Panel", "wide_panel", "simple_returns", "symbol_info", "assign_benchmarks",
           "index_returns", "interval_market_returns", "market_model_panel", "market_model_loop", "fit_event",
           "returns_series", "limit_hit_days", "closed_at_limit", "DailyInputs", "daily_inputs", "clear_cache", "shared_inputs", "scope_memo", "sorted_codes",
           "records_frame", "concat_records", "clean",
           "trailing_robust", "trailing_median_lower_bound", "t_pvalue", "rounded", "column_details"]
