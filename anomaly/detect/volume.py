"""Volume / amount surge against the symbol's own trailing median.

Kind ``volume_surge`` (reference ``trailing_median``):

    ratio_t = volume_t / median(volume over the previous W = 20 bars)      (amount when no volume)
    robust_z = (ln volume_t − median(ln v)) / (1.4826 · MAD(ln v)) over the same bars
               (1.2533 · mean absolute deviation when the MAD is 0)

Flagged when ratio_t ≥ ratio_threshold (default 4×) and robust_z ≥ z_threshold (default 4).
magnitude = ratio_t − 1 (a signed fraction: +1.45 = 2.45× the reference); score = robust_z;
p_value = null. details: volume, trailing_median_volume, volume_ratio, amount, trailing_median_amount,
amount_ratio, prev_day_ratio (vs the previous bar), close_return, window, robust_z, trailing MAD.
Zero-volume bars (no trade) count as NaN. Indices without volume (931071) use amount.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..marketmodel import (column_details, concat_records, daily_inputs, records_frame, rounded,
                           trailing_median_lower_bound, trailing_robust)
from .base import Context, Detector, register


def trailing_min(packed: np.ndarray, window: int) -> np.ndarray:
    """Minimum of the previous ``window`` rows of each column, NaN ignored (today excluded)."""
    from scipy.ndimage import minimum_filter1d

    x = np.where(np.isfinite(packed), packed, np.inf)
    m = minimum_filter1d(x, size=window, axis=0, origin=(window - 1) // 2, mode="constant", cval=np.inf)
    out = np.full_like(m, np.nan)
    out[1:] = np.where(np.isfinite(m[:-1]), m[:-1], np.nan)
    return out


@register
@dataclass
class VolumeSurgeDetector(Detector):
    """Volume (or amount) at a multiple of its trailing median."""

    name = "volume_surge"
    freq = "daily"
    kinds = ("volume_surge",)

    window: int = 20
    min_periods: int = 10
    ratio_threshold: float = 4.0
    z_threshold: float = 4.0

    def __post_init__(self):
        if self.window < 5 or not 3 <= self.min_periods <= self.window:
            raise ValueError("need window >= 5 and 3 <= min_periods <= window")
        if self.ratio_threshold <= 1 or self.z_threshold < 0:
            raise ValueError("need ratio_threshold > 1 and z_threshold >= 0")

    @property
    def lookback_days(self) -> int:
        return self.window + 5

    def _detect(self, bars, ctx: Context):
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        p = inp.panel
        vol = p.col_values("volume")
        amt = p.col_values("amount")
        vol = np.where(vol > 0, vol, np.nan)
        amt = np.where(amt > 0, amt, np.nan)
        out = []
        # volume where the bar reports it (shares), else amount (yuan) — each against its own history
        for measure, series, use in (("volume", vol, np.isfinite(vol)), ("amount", amt, ~np.isfinite(vol))):
            if use.any():
                out.append(self._surges(inp, measure, series, use, vol, amt))
        return concat_records(out)

    def _surges(self, inp, measure, base, use, vol, amt):
        p = inp.panel
        # screen: ratio ≥ threshold needs v ≥ threshold × median ≥ threshold × a cheap lower bound
        # of the trailing median (``trailing_median_lower_bound``, with a relative slack for rounding);
        # the exact median is then computed for the survivors only
        pv = p.packed(base)
        lb = p.from_packed(trailing_median_lower_bound(pv, self.window))
        with np.errstate(invalid="ignore"):
            cand = np.flatnonzero(use & (base >= self.ratio_threshold * lb * (1.0 - 1e-9)))
        if not len(cand):
            return []
        med = trailing_robust(pv, p.pos[cand], p.col[cand], self.window, self.min_periods)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            keep = base[cand] / med >= self.ratio_threshold
        cand, med = cand[keep], med[keep]
        if not len(cand):
            return []
        with np.errstate(divide="ignore"):
            logv = np.log(pv)
        lmed, lmad, cnt, lsig = trailing_robust(logv, p.pos[cand], p.col[cand], self.window, self.min_periods)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (np.log(base[cand]) - lmed) / lsig
        hit = np.isfinite(z) & (z >= self.z_threshold)
        idx = cand[hit]
        if not len(idx):
            return []
        ratio = np.full(len(base), np.nan)
        ratio[cand] = base[cand] / med
        med_v = np.full(len(base), np.nan)
        med_v[cand] = med
        ma = trailing_robust(p.packed(amt), p.pos[idx], p.col[idx], self.window, self.min_periods)[0]
        med_a = np.full(len(base), np.nan)
        med_a[idx] = ma
        with np.errstate(invalid="ignore", divide="ignore"):
            aratio = amt / med_a
        prev = np.full(len(base), np.nan)
        same = np.r_[False, p.col[1:] == p.col[:-1]]
        prev[same] = base[np.flatnonzero(same) - 1]
        hv = np.full(len(idx), measure == "volume")
        details = column_details(len(idx), {
            "measure": np.where(hv, "volume", "amount").tolist(),
            "volume": rounded(vol[idx], 0),
            "trailing_median_volume": rounded(np.where(hv, med_v[idx], np.nan), 0),
            "volume_ratio": rounded(np.where(hv, ratio[idx], np.nan), 4),
            "amount": rounded(amt[idx], 0), "trailing_median_amount": rounded(med_a[idx], 0),
            "amount_ratio": rounded(aratio[idx], 4), "prev_day_ratio": rounded(base[idx] / prev[idx], 4),
            "close_return": rounded(inp.ret[idx]), "window": cnt[hit].astype(int).tolist(),
            "robust_z": rounded(z[hit], 4), "trailing_mad_log": rounded(lmad[hit])},
            {"formula": "ratio = v / median(v over previous window bars); "
                        "z = (ln v - median ln v) / (1.4826 MAD ln v)"})
        return records_frame(p, idx, "volume_surge", ratio[idx] - 1.0, "trailing_median", z[hit], None, details)
