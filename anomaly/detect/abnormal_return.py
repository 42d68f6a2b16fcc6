"""Abnormal return against the board index (market model), estimated for every symbol-day at once.

Kind ``abnormal_return`` (one per symbol-day):

``variant="market_model"`` (default; reference ``market_model``)
    R_t = close_t / prev_close_t − 1; R_m,t the benchmark's return over the same interval.
    OLS of R on R_m over the fixed window [t − 250, t − 11] trading days (limit-hit days, days
    after a suspension and no-limit days excluded; at least ``min_obs`` pairs):
    AR_t = R_t − α − β R_m,t,  V_t = σ² (1 + 1/n + (R_m,t − x̄)² / Sxx),  t = AR_t / √V_t,
    p = two-sided Student-t(n − 2). Flagged when |t| ≥ t_threshold and |AR_t| ≥ min_abs_ar.
``variant="market_adjusted"`` (reference ``index``)
    MAR_t = R_t − R_m,t, t = MAR_t / s with s the sample s.d. of MAR over the same window
    (Student-t, n − 1 dof).

magnitude = AR (or MAR); score = t; p_value = p. details: variant, benchmark, alpha, beta, sigma,
n_est, est_start, est_end, ar, t, p, market_return, market_adjusted_return, close_return, and the
other variant's t. The p-value assumes normal errors; daily A-share returns have fat tails, so the
default threshold is |t| ≥ 4 (nominal p ≈ 1e-4) to keep false alarms near one per stock-year.

The benchmark is ``ctx.benchmark[symbol]`` when given, else ``rules.DEFAULT_BENCHMARKS`` for the
stock's (exchange, board) — 399001.SZ for the Shenzhen main board — following
``rules.BENCHMARK_FALLBACKS`` to an index present in ``ctx.index_bars``; ``benchmarks`` (config
style ``{"SZ.main": "399001.SZ"}``) overrides the board table. Without index bars the detector
emits nothing (a logged skip), never a guess.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..marketmodel import column_details, daily_inputs, market_model_panel, records_frame, rounded, t_pvalue
from .base import Context, Detector, register

log = logging.getLogger("anomaly.detect")


@register
@dataclass
class AbnormalReturnDetector(Detector):
    """Market-model abnormal return with prediction-error variance, t-statistic and p-value."""

    name = "abnormal_return"
    freq = "daily"
    kinds = ("abnormal_return",)
    needs_context = True

    est_start: int = -250
    est_end: int = -11
    min_obs: int = 120
    t_threshold: float = 4.0
    min_abs_ar: float = 0.03
    variant: str = "market_model"
    benchmarks: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.est_start <= self.est_end < 0:
            raise ValueError("need est_start <= est_end < 0 (trading days before the event)")
        if self.est_end - self.est_start + 1 < self.min_obs or self.min_obs < 10:
            raise ValueError("min_obs must be >= 10 and fit in the estimation window")
        if self.variant not in ("market_model", "market_adjusted"):
            raise ValueError("variant must be 'market_model' or 'market_adjusted'")
        if self.t_threshold <= 0 or self.min_abs_ar < 0:
            raise ValueError("need t_threshold > 0 and min_abs_ar >= 0")

    @property
    def lookback_days(self) -> int:
        return -self.est_start + 10

    def _detect(self, bars, ctx: Context):
        if ctx.index_bars is None or not len(ctx.index_bars):
            log.info("abnormal_return: no index bars in the context; skipped")
            return []
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta, overrides=self.benchmarks)
        p = inp.panel
        if inp.bench.isna().all():
            log.info("abnormal_return: no benchmark available for %s; skipped", ", ".join(p.symbols[:5]))
            return []
        y = p.cal(inp.ret)
        x = p.cal(inp.mkt)
        ex = p.cal(inp.estimation_mask(), fill=True)
        mm = market_model_panel(y, x, est=(self.est_start, self.est_end), exclude=ex, min_obs=self.min_obs,
                                pvalues=False)
        mask_long = ~inp.unreliable & inp.is_stock
        if self.variant == "market_model":
            mag, tt, ref, lost = mm["ar"], mm["t"], "market_model", 2
        else:
            mag, tt, ref, lost = mm["mar"], mm["mar_t"], "index", 1
        with np.errstate(invalid="ignore"):
            hit = (np.abs(tt) >= self.t_threshold) & (np.abs(mag) >= self.min_abs_ar)
        hit_long = p.from_cal(hit) & mask_long
        idx = np.flatnonzero(hit_long)
        if not len(idx):
            return []
        rows, cols = p.row[idx], p.col[idx]
        n_hit = mm["n"][rows, cols]
        p_mm = t_pvalue(mm["t"][rows, cols], n_hit - 2)
        p_ma = t_pvalue(mm["mar_t"][rows, cols], n_hit - 1)
        pp_hit = p_mm if self.variant == "market_model" else p_ma
        days = p.day_str
        g = {k: mm[k][rows, cols] for k in ("alpha", "beta", "sigma", "ar", "t", "market_return", "mar", "mar_t")}
        lo = np.maximum(rows + self.est_start, 0)
        hi = np.maximum(rows + self.est_end, 0)
        details = column_details(len(idx), {
            "benchmark": inp.bench.to_numpy()[cols].tolist(),
            "alpha": rounded(g["alpha"], 8), "beta": rounded(g["beta"]), "sigma": rounded(g["sigma"]),
            "n_est": n_hit.astype(int).tolist(), "est_start": days[lo].tolist(), "est_end": days[hi].tolist(),
            "ar": rounded(g["ar"]), "t": rounded(g["t"], 4), "p": rounded(p_mm, 8),
            "market_return": rounded(g["market_return"]), "market_adjusted_return": rounded(g["mar"]),
            "market_adjusted_t": rounded(g["mar_t"], 4), "market_adjusted_p": rounded(p_ma, 8),
            "close_return": rounded(inp.ret[idx]), "after_suspension": inp.gap[idx].tolist(),
            "distribution": [f"Student t with {int(v) - lost} dof (normal errors assumed)" for v in n_hit],
        }, {"variant": self.variant, "est_window": [self.est_start, self.est_end]})
        return records_frame(p, idx, "abnormal_return", p.from_cal(mag)[idx], ref, p.from_cal(tt)[idx],
                             pp_hit, details)
