"""Volatility-scaled surprise: today's return against the symbol's own recent volatility (EWMA).

Kind ``vol_surprise`` (reference ``ewma_vol``):

    r_t = close_t / prev_close_t − 1
    σ²_t = Σ_{k=1..W} λ^{k−1} r²_{t−k} / Σ_{k=1..W} λ^{k−1}     (RiskMetrics λ = 0.94, zero mean,
                                                               truncated to the last W = 120 bars,
                                                               NaN bars dropped from both sums)
    z_t = r_t / (σ_t · √span)                                   (span = trading days the return
                                                               covers; > 1 only after a suspension)

Flagged when |z_t| ≥ z_threshold and |r_t| ≥ min_abs_return. magnitude = r_t, score = z_t,
p_value = two-sided normal tail of z (conditional normality; fat tails make it optimistic — the
default threshold 4 is chosen for a false-alarm rate of about one per stock-year, see the project
notes). The EWMA is computed as a finite filter over the last W bars (``scipy.signal.lfilter``
along the time axis of the packed panel), so a record never depends on history older than W bars.
details: close_return, ewma_sigma, lambda, window, n (bars in the window), span.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, special

from ..marketmodel import column_details, daily_inputs, records_frame, rounded
from .base import Context, Detector, register


def ewma_variance(packed_ret: np.ndarray, lam: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncated EWMA variance *predicted* for each row from the previous ``window`` rows.

    Returns (σ², n) with n the number of non-NaN returns in the window.
    """
    P = packed_ret.shape[0]
    r2 = np.nan_to_num(packed_ret * packed_ret, nan=0.0)
    ok = np.isfinite(packed_ret).astype(float)
    w = lam ** np.arange(window)
    num = signal.lfilter(w, [1.0], r2, axis=0)
    den = signal.lfilter(w, [1.0], ok, axis=0)
    cnt = signal.lfilter(np.ones(window), [1.0], ok, axis=0)
    var = np.full_like(r2, np.nan)
    n = np.zeros_like(r2)
    if P > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            var[1:] = num[:-1] / den[:-1]
        n[1:] = np.rint(cnt[:-1])
    return var, n


@register
@dataclass
class VolSurpriseDetector(Detector):
    """Return scaled by the symbol's EWMA volatility (RiskMetrics), |z| ≥ threshold."""

    name = "vol_surprise"
    freq = "daily"
    kinds = ("vol_surprise",)

    lam: float = 0.94
    window: int = 120
    min_periods: int = 60
    z_threshold: float = 4.0
    min_abs_return: float = 0.03

    def __post_init__(self):
        if not 0 < self.lam < 1:
            raise ValueError("lam must be in (0, 1)")
        if self.window < 10 or not 5 <= self.min_periods <= self.window:
            raise ValueError("need window >= 10 and 5 <= min_periods <= window")
        if self.z_threshold <= 0 or self.min_abs_return < 0:
            raise ValueError("need z_threshold > 0 and min_abs_return >= 0")

    @property
    def lookback_days(self) -> int:
        return self.window + 10

    def _detect(self, bars, ctx: Context):
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        p = inp.panel
        r = np.where(inp.unreliable, np.nan, inp.ret)
        var, n = ewma_variance(p.packed(r), self.lam, self.window)
        span = np.where(p.prev_row >= 0, p.row - p.prev_row, 1).astype(float)
        sig = np.sqrt(p.from_packed(var) * span)
        nn = p.from_packed(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = r / sig
            hit = (nn >= self.min_periods) & (np.abs(z) >= self.z_threshold) & (np.abs(r) >= self.min_abs_return)
        idx = np.flatnonzero(hit)
        if not len(idx):
            return []
        pv = 2.0 * special.ndtr(-np.abs(z[idx]))
        details = column_details(len(idx), {
            "close_return": rounded(r[idx]), "ewma_sigma": rounded(sig[idx]), "n": nn[idx].astype(int).tolist(),
            "span": span[idx].astype(int).tolist()},
            {"lambda": self.lam, "window": self.window,
             "formula": "z = r / (sigma_ewma * sqrt(span)), sigma from the previous window bars"})
        return records_frame(p, idx, "vol_surprise", r[idx], "ewma_vol", z[idx], pv, details)
