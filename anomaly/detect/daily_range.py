"""Intraday range from daily OHLC: flash crashes and spikes that the close does not show.

Kinds (reference ``prev_close``; one record per symbol-day at most per kind):

``range_crash``
    x_t = low_t / prev_close_t − 1 (how far the day fell below the previous close), scored against
    the symbol's own previous ``window`` trading days (today excluded):
    robust_z = (x_t − median(x)) / (1.4826 · MAD(x)),  MAD = median |x − median(x)|
    (1.2533 · mean |x − median(x)| when the MAD is 0).
    Flagged when robust_z ≤ −z_threshold, x_t ≤ −min_move and the close retraced at least
    ``min_retrace`` of the drop: retrace_share = (close − low) / (prev_close − low).
    magnitude = x_t; score = robust_z; p_value = null (robust z of a fat-tailed quantity is not a
    calibrated normal deviate). details: low_vs_prev_close, high_vs_prev_close, close_return,
    recovery_off_low = close / low − 1, retreat_off_high = close / high − 1, retrace_share,
    robust_z, trailing_median, trailing_mad, window (bars used), window_start, window_end, the OHLC,
    and ``market_model`` — the day's abnormal return against the benchmark (alpha, beta, sigma,
    n_est, est_start, est_end, ar, t, p, market_return, market_adjusted_return; see
    ``anomaly.marketmodel``) when index bars are available.
``range_spike``
    The mirror: x_t = high_t / prev_close_t − 1, robust_z ≥ z_threshold, x_t ≥ min_move, and the
    close gave back at least ``min_retrace`` of the rise: (high − close) / (high − prev_close).

Why the retrace condition (default: at least half): a day that closes at or near its low (high)
is a close-to-close move, reported by ``vol_surprise``, ``abnormal_return`` and ``limits``; this
detector reports what only the path shows — 2023-05-24 of 002230: low −9.46 %, close −4.26 %, +5.7 %
off the low, 55 % of the drop recovered. On the 292-stock panel (2022-07..2024) the defaults give
about 0.7 crash and 2.0 spike flags per stock-year, a quarter of them on market-wide days; with
``min_retrace=1/3`` it is 1.3 and 3.4. Set ``min_retrace=0`` to flag every abnormal extreme.

Bars whose return against ``prev_close`` is not a market move (range outside the limit band: IPO
days without limit, or an ex-rights day with a raw previous close) are skipped and kept out of the
trailing windows' scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..marketmodel import (EST_WINDOW, DailyInputs, concat_records, daily_inputs, market_model_panel, records_frame,
                           rounded, t_pvalue, trailing_robust)
from .base import Context, Detector, register


def market_model_details(inp: DailyInputs, idx: np.ndarray, est: tuple[int, int] = EST_WINDOW,
                         min_obs: int = 120) -> list[dict | None]:
    """The market-model figures of the bars at long rows ``idx`` (None where not estimable)."""
    if len(idx) == 0:
        return []
    p = inp.panel
    cols = np.unique(p.col[idx])
    sel = np.flatnonzero(np.isin(p.col, cols))
    ccol = np.searchsorted(cols, p.col[sel])
    shape = (p.T, len(cols))
    y = np.full(shape, np.nan)
    x = np.full(shape, np.nan)
    ex = np.zeros(shape, dtype=bool)
    rows = p.row[sel]
    y[rows, ccol] = inp.ret[sel]
    x[rows, ccol] = inp.mkt[sel]
    ex[rows, ccol] = inp.estimation_mask()[sel]
    mm = market_model_panel(y, x, est=est, exclude=ex, min_obs=min_obs, pvalues=False)
    t, c = p.row[idx], np.searchsorted(cols, p.col[idx])
    a, b = est
    lo, hi = np.maximum(t + a, 0), np.maximum(t + b, 0)
    g = {k: mm[k][t, c] for k in ("alpha", "beta", "sigma", "n", "ar", "t", "market_return", "mar")}
    pv = t_pvalue(g["t"], g["n"] - 2)
    bench = inp.bench.to_numpy()[p.col[idx]]
    cols_out = {"alpha": rounded(g["alpha"], 8), "beta": rounded(g["beta"]), "sigma": rounded(g["sigma"]),
                "ar": rounded(g["ar"]), "t": rounded(g["t"], 4), "p": rounded(pv, 6),
                "market_return": rounded(g["market_return"]), "market_adjusted_return": rounded(g["mar"])}
    ds = p.day_str
    out: list[dict | None] = []
    for k in range(len(idx)):
        if bench[k] is None or not np.isfinite(g["ar"][k]):
            out.append(None)
            continue
        d = {"benchmark": bench[k], "n_est": int(g["n"][k]), "est_start": ds[lo[k]], "est_end": ds[hi[k]],
             "est_window": [a, b]}
        d.update({name: v[k] for name, v in cols_out.items()})
        out.append(d)
    return out


@register
@dataclass
class RangeDetector(Detector):
    """Abnormal intraday low/high against the previous close, scored on the symbol's own history."""

    name = "range"
    freq = "daily"
    kinds = ("range_crash", "range_spike")
    needs_context = False

    window: int = 120
    min_periods: int = 60
    z_threshold: float = 4.0
    min_move: float = 0.05
    min_retrace: float = 0.5
    event_study: bool = True
    min_obs: int = 120

    def __post_init__(self):
        if self.window < 10 or self.min_periods < 5 or self.min_periods > self.window:
            raise ValueError("need window >= 10 and 5 <= min_periods <= window")
        if self.z_threshold <= 0 or self.min_move < 0 or not 0 <= self.min_retrace <= 1:
            raise ValueError("need z_threshold > 0, min_move >= 0 and 0 <= min_retrace <= 1")

    @property
    def lookback_days(self) -> int:
        """Trading days of history needed before the first day to report."""
        return max(self.window, -EST_WINDOW[0] if self.event_study else 0) + 10

    def _detect(self, bars, ctx: Context):
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        return range_records(inp, self)


def range_records(inp: DailyInputs, det: RangeDetector):
    p = inp.panel
    o, h, l, c, pc = (p.col_values(k) for k in ("open", "high", "low", "close", "prev_close"))
    good = np.isfinite(pc) & (pc > 0) & ~inp.unreliable
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(good, l / pc - 1.0, np.nan)
        hi = np.where(good, h / pc - 1.0, np.nan)
        ret = np.where(good, c / pc - 1.0, np.nan)
        rec = c / l - 1.0
        off = c / h - 1.0
        share_dn = np.where(l < pc, (c - l) / (pc - l), np.nan)
        share_up = np.where(h > pc, (h - c) / (h - pc), np.nan)
    found = []   # (kind, idx, z, med, mad, cnt, share)
    for kind, x, share, sign in (("range_crash", lo, share_dn, -1.0), ("range_spike", hi, share_up, 1.0)):
        with np.errstate(invalid="ignore"):
            cand = np.flatnonzero((sign * x >= det.min_move) & (share >= det.min_retrace - 1e-12))
        if not len(cand):
            continue
        med, mad, cnt, sig = trailing_robust(p.packed(x), p.pos[cand], p.col[cand], det.window, det.min_periods)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x[cand] - med) / sig
        hit = np.isfinite(z) & (sign * z >= det.z_threshold)
        if hit.any():
            found.append((kind, x, cand[hit], z[hit], med[hit], mad[hit], cnt[hit], share[cand[hit]], sign))
    if not found:
        return []
    all_idx = np.concatenate([f[2] for f in found])
    mm_all = market_model_details(inp, all_idx, min_obs=det.min_obs) if det.event_study else [None] * len(all_idx)
    vol = p.col_values("volume")
    vol = np.where(vol > 0, vol, np.nan)
    prev_vol = np.full(len(vol), np.nan)
    same = np.r_[False, p.col[1:] == p.col[:-1]]
    prev_vol[same] = vol[np.flatnonzero(same) - 1]
    vmed = trailing_robust(p.packed(vol), p.pos[all_idx], p.col[all_idx], 20, 10)[0]
    prow = p.packed_rows()
    dstr = p.day_str
    records = []
    at = 0
    for kind, x, idx, z, med, mad, cnt, share, sign in found:
        n = len(idx)
        mm = mm_all[at:at + n]
        vm = vmed[at:at + n]
        at += n
        first = np.maximum(p.pos[idx] - det.window, 0)
        wstart = dstr[prow[first, p.col[idx]]]
        wend = dstr[prow[p.pos[idx] - 1, p.col[idx]]]
        cols = {"low_vs_prev_close": rounded(lo[idx]), "high_vs_prev_close": rounded(hi[idx]),
                "close_return": rounded(ret[idx]), "recovery_off_low": rounded(rec[idx]),
                "retreat_off_high": rounded(off[idx]), "retrace_share": rounded(share, 4),
                "robust_z": rounded(z, 4), "trailing_median": rounded(med), "trailing_mad": rounded(mad),
                "open": rounded(o[idx], 4), "high": rounded(h[idx], 4), "low": rounded(l[idx], 4),
                "close": rounded(c[idx], 4), "prev_close": rounded(pc[idx], 4),
                "volume_vs_prev_day": rounded(vol[idx] / prev_vol[idx], 4),
                "volume_vs_median20": rounded(vol[idx] / vm, 4)}
        stat = "low_vs_prev_close" if sign < 0 else "high_vs_prev_close"
        formula = ("robust_z = (x - median) / (1.4826 * MAD) over the previous window bars, "
                   f"x = {'low' if sign < 0 else 'high'} / prev_close - 1")
        names = list(cols)
        head = {"statistic": stat, "formula": formula}
        tail = {"z_threshold": det.z_threshold, "min_move": det.min_move, "min_retrace": det.min_retrace}
        details = [{**head, **dict(zip(names, vals)), "window": w, "window_start": ws, "window_end": we, **tail,
                    "market_model": m}
                   for vals, w, ws, we, m in zip(zip(*cols.values()), cnt.astype(int).tolist(), wstart.tolist(),
                                                 wend.tolist(), mm)]
        records.append(records_frame(p, idx, kind, x[idx], "prev_close", z, None, details))
    return concat_records(records)
