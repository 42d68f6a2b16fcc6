"""Intraday cliff / spike: a volatility-scaled "X % in N minutes" rule on minute bars.

Why it is built this way:

* A fixed "3 % in 5 minutes" fires on every volatile open and never on a quiet large cap, so each
  window's move is divided by what that stock, at that time of day, normally does over those bars:
  ``z = (P_j − P_{j−n}) / (Â_{j−n} · sqrt(Σ g_k))`` with ``g`` the trailing time-of-day variance shape
  (``intraday.tod_profile``) and ``Â`` the trailing daily level updated causally with the day's own bars
  before the window starts (``intraday.running_level``). The 09:31 and 13:01 slots and the 15:00
  auction have their own scales, which is what keeps opens, the reopen and the close quiet.
* A z alone would flag a 0.8 % move of a sleepy stock, so a move must also be economically large: a
  board-aware minimum (``min_move_main`` for 10 %-limit boards, ``min_move_growth`` for ChiNext/STAR/
  BSE, whose limits are 20–30 %).
* Overlapping flagged windows of one direction are merged into one episode per symbol-day. Its onset
  is the start point p maximising ``fall(p→trough)/√(bars)`` — a change-point estimate under a flat
  per-bar variance, which neither drifts into pre-move noise (as "last local high" rules do) nor
  skips the high-variance 13:01 bar (as a time-of-day-weighted z would). The trough is the extreme
  low (high) from the onset to the episode's end; depths use that low (high), not a close.
* ``score`` is the best window's z (signed like the move); ``p_value`` its Gaussian tail times the
  number of windows tested that day (Bonferroni) — indicative only, since minute returns are fat-tailed.
* Fully vectorised over a ``symbol × day × bar`` panel; only the (few) episodes are turned into records.

Calibration on the synthetic market (``anomaly.simulate``, seeded; see tests/test_detect_intraday.py):
a −8 % cliff at 13:01 is found with the exact onset minute and depth in 98.5 % of 200 stock-days (the
rest hit the −10 % limit first or were merged into an earlier episode); calm days raise about 1
alarm per 80 stock-days (1 per 40 on a symbol's first day, with no history); 5,000 × 240 bars take ~2 s.

Look-ahead: day *d* uses days before *d* and bars of *d* up to each window's end. A record's
``recovery_by_close`` and ``close_vs_prev_close`` describe the rest of the day and so are "as of the
last bar seen"; every other field is fixed once ``details["episode_end"]`` has been seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..errors import ConfigError
from ..intraday import Panel, detector_panel, path_arrays, profile_arrays, running_level
from ..rules import limit_pct, limit_price
from .base import Context, Detector, register

_MAX_CELLS = 1_000_000      # symbols per chunk × days × bars; bounds the working arrays at ~10 MB each


@register
@dataclass
class IntradayCliff(Detector):
    """Volatility-scaled "X % in N minutes" cliffs (drops) and spikes (rises) on 1-/5-minute bars.

    windows            window lengths in minutes (5-minute bars use ⌈N/5⌉ bars)
    z                  |z| a window must reach (scaled by the time-of-day profile and daily level)
    min_move_main      minimum |move| on 10 %-limit boards (main board)
    min_move_growth    minimum |move| on ChiNext, STAR and BSE (20–30 % limits)
    lookback_days      trailing days for the time-of-day profile and level
    default_daily_vol  daily volatility assumed for a symbol without history (updated by its own bars)
    prior_bars         weight, in bars, of the trailing level against the day's own bars
    tod                False = one flat scale for all slots (for comparison only)
    spikes             also report rises
    bar_freq           "1min" / "5min"; None = infer from the timestamps
    """
    name = "cliff"
    freq = "intraday"
    kinds = ("cliff", "spike")

    windows: Sequence[int] = (1, 5, 15, 30)
    z: float = 6.0
    min_move_main: float = 0.03
    min_move_growth: float = 0.05
    lookback_days: int = 20
    default_daily_vol: float = 0.025
    prior_bars: int = 120
    tod: bool = True
    spikes: bool = True
    bar_freq: str | None = None

    def __post_init__(self) -> None:
        try:
            self.windows = tuple(sorted({int(w) for w in self.windows}))
        except (TypeError, ValueError):
            raise ConfigError(f"detector 'cliff': windows must be whole minutes, got {self.windows!r}"
                              ) from None
        if not self.windows or self.windows[0] < 1 or self.windows[-1] > 240:
            raise ConfigError("detector 'cliff': windows must be between 1 and 240 minutes")
        for k in ("z", "min_move_main", "min_move_growth", "default_daily_vol"):
            if not getattr(self, k) > 0:
                raise ConfigError(f"detector 'cliff': {k} must be positive")
        if self.lookback_days < 1 or self.prior_bars < 0:
            raise ConfigError("detector 'cliff': lookback_days ≥ 1 and prior_bars ≥ 0 required")

    def history_days(self, default: int) -> int:
        # The day's level averages the last lookback_days daily levels, each measured against a
        # time-of-day profile of the lookback_days before it: records depend on 2 × lookback_days.
        return 2 * self.lookback_days + 1

    def _detect(self, bars: pd.DataFrame, ctx: Context) -> pd.DataFrame | list:
        freq, _, rows = detector_panel(bars, self.bar_freq)
        if freq not in ("1min", "5min"):
            raise ConfigError(f"detector 'cliff' works on 1min or 5min bars, got {freq}")
        syms = pd.Series(rows.symbols.astype(str))
        board = ctx.board_of(syms).to_numpy()
        is_st = ctx.is_st_of(syms).to_numpy()
        min_move = np.where(board == "main", self.min_move_main, self.min_move_growth)
        S, D, B = rows.shape
        step = max(1, _MAX_CELLS // max(D * B, 1))
        out: list[pd.DataFrame] = []
        for lo in range(0, S, step):     # symbols are independent: one block of them at a time
            hi = min(S, lo + step)
            out += self._scan(rows.chunk(lo, hi), min_move[lo:hi], board[lo:hi], is_st[lo:hi])
        return pd.concat(out, ignore_index=True) if out else []

    # --- the vectorised core --------------------------------------------------------------------

    def _scan(self, p: Panel, min_move: np.ndarray, board: np.ndarray, is_st: np.ndarray
              ) -> list[pd.DataFrame]:
        a = path_arrays(p)
        prof = profile_arrays(p, a, self.lookback_days, flat_profile=not self.tod)
        S, D, B = p.shape
        minutes = p.slots.minutes
        per_min = self.default_daily_vol / math.sqrt(B)
        hist = prof.n_days
        have = (hist > 0) & np.isfinite(prof.level)
        prior = np.where(have, prof.level, per_min)
        # a few trailing days already say a lot; with none, the day's own bars take over quickly
        n0 = np.where(have, self.prior_bars * np.minimum(hist, 5) / 5.0, max(B // 12, 2))
        lev = running_level(a.inc, a.est, prof.shape, prior, n0)           # (S, D, B+1)
        G = np.zeros((S, D, B + 1))
        np.cumsum(prof.shape, axis=-1, out=G[..., 1:])
        P = a.P
        Pf = P.reshape(-1)
        valid_day = np.isfinite(P[..., :1]).reshape(-1)                     # per symbol-day
        # tick = (half a cent / price)², the path's floor variance; only read at a few positions
        tick = _Gather(Pf, lambda v: (0.5 * 0.01 / np.exp(v)) ** 2)
        levf, Gf = lev.reshape(-1), G.reshape(-1)
        nbars = sorted({max(1, math.ceil(w / minutes)) for w in self.windows})
        W = B + 1
        signs = [(-1.0, "cliff")] + ([(1.0, "spike")] if self.spikes else [])
        # "adverse" coordinates Y = −sgn·P: the move of interest is a fall of Y (read where needed)
        Y = {sgn: _Gather(Pf, (lambda g: lambda v: g * v)(-sgn)) for sgn, _ in signs}
        cover = {sgn: np.zeros((S, D, B + 2), dtype=np.int32) for sgn, _ in signs}
        best = {sgn: np.full((S, D, W), np.inf) for sgn, _ in signs}
        best_n = {sgn: np.zeros((S, D, W), dtype=np.int32) for sgn, _ in signs}
        # A window is flagged only if its move is at least min_move, i.e. |log move| ≥ log1p(min_move):
        # that screen (with a relative slack for rounding) leaves few cells, where z is then computed
        # exactly as z = ΔY / sqrt(lev² · Σg + tick) at the window's start.
        screen = math.log1p(float(np.min(min_move))) * (1 - 1e-9) if len(min_move) else np.inf
        for n in nbars:
            if n > B:
                continue
            with np.errstate(invalid="ignore"):
                cand = np.flatnonzero(np.abs(P[..., n:] - P[..., :-n]) >= screen)
            if not len(cand):
                continue
            r, k = np.divmod(cand, W - n)
            start = r * W + k                      # window start position in the flat (S·D, W) path
            end = start + n
            with np.errstate(invalid="ignore", divide="ignore"):
                sq = np.sqrt(levf[start] ** 2 * (Gf[end] - Gf[start]) + tick[start])
            for sgn, kind in signs:
                mv = Y[sgn][end] - Y[sgn][start]
                with np.errstate(invalid="ignore", divide="ignore"):
                    z = mv / sq
                    size = np.expm1(-mv)           # the move as a positive fraction of the start level
                    flag = (z <= -self.z) & (size >= min_move[r // D]) & valid_day[r]
                if not flag.any():
                    continue
                rr, kk, zz, e = r[flag], k[flag], z[flag], end[flag]     # e: position j of the window's end
                bf, bn = best[sgn].reshape(-1), best_n[sgn].reshape(-1)
                better = zz < bf[e]
                bf[e[better]] = zz[better]
                bn[e[better]] = n
                cf = cover[sgn].reshape(-1)        # window ending at position j covers bars j-n+1..j
                cf[rr * (B + 2) + kk + 1] += 1
                cf[rr * (B + 2) + kk + n + 1] -= 1
        recs: list[pd.DataFrame] = []
        for sgn, kind in signs:
            covered = np.cumsum(cover[sgn], axis=-1)[..., :B + 1] > 0
            if covered.any():
                recs.append(self._episodes(p, a, covered, best[sgn], best_n[sgn], Y[sgn], lev, G, tick, sgn,
                                           kind, prof, min_move, board, is_st, nbars))
        return recs

    def _episodes(self, p: Panel, a, covered, best, best_n, Y, lev, G, tick, sgn, kind, prof,
                  min_move, board, is_st, nbars) -> pd.DataFrame:
        S, D, B = p.shape
        W = B + 1
        flat_cov = covered.reshape(-1)
        pos = np.flatnonzero(flat_cov)                       # flat positions, grouped by episode
        brk = np.ones(len(pos), dtype=bool)
        brk[1:] = np.diff(pos) != 1                          # position 0 is never covered: rows split
        ep = np.cumsum(brk) - 1
        starts = np.flatnonzero(brk)
        E = len(starts)
        row = pos[starts] // W
        b0 = pos[starts] % W                                 # first covered bar (1-based position)
        b1 = np.append(pos[starts[1:] - 1], pos[-1]) % W     # last covered bar
        Yf = Y                                               # Y[i] = −sgn · P[i] (flat positions)
        # trough of the path inside the episode
        order = np.lexsort((Yf[pos], ep))
        first = np.r_[0, np.flatnonzero(np.diff(ep[order])) + 1]
        T = pos[order[first]] % W
        bestf = best.reshape(-1)[pos]
        score = np.minimum.reduceat(bestf, starts)
        arg = np.lexsort((bestf, ep))[first]
        win = best_n.reshape(-1)[pos[arg]]
        # onset: the start point p in [b0-1, T-1] maximising fall(p→T)/sqrt(bars). This is the
        # change-point estimate under one flat per-bar variance; the time-of-day variances are left
        # out on purpose, because they would make the high-variance 13:01 or 09:31 bar look "cheap"
        # to leave out and push the onset one bar late.
        L = int((T - b0 + 1).max())
        off = np.arange(1, L + 1)[None, :]
        cand = T[:, None] - off
        ok = cand >= (b0 - 1)[:, None]
        cand = np.maximum(cand, 0)
        base = (row * W)[:, None]
        levf, Gf, tf = lev.reshape(-1), G.reshape(-1), tick
        yT = Yf[row * W + T][:, None]
        fall = Yf[base + cand] - yT
        zc = np.where(ok, fall / np.sqrt(off), -np.inf)
        k = np.argmax(zc, axis=1)
        rows_e = np.arange(E)
        pstar = cand[rows_e, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            onset_z = -(Yf[row * W + pstar] - yT[:, 0]) / np.sqrt(
                levf[row * W + pstar] ** 2 * (Gf[row * W + T] - Gf[row * W + pstar]) + tf[row * W + pstar])
        # extreme low (high) from the onset bar to the end of the episode, in adverse coordinates:
        # log(low) for a cliff, -log(high) for a spike; +inf where there is no bar
        with np.errstate(divide="ignore", invalid="ignore"):
            ext_arr = np.log(p.low) if sgn < 0 else -np.log(p.high)
        ext_arr = np.where(p.present, ext_arr, np.inf)
        L2 = int((b1 - pstar).max())
        jj = pstar[:, None] + np.arange(L2)[None, :]          # 0-based bars onset..b1-1
        ok2 = jj < b1[:, None]
        ef = ext_arr.reshape(S * D, B)
        ev = np.where(ok2, ef[row[:, None], np.minimum(jj, B - 1)], np.inf)
        jx = np.argmin(ev, axis=1)
        tb = pstar + jx                                       # 0-based trough bar
        ext_price = np.exp(-sgn * ev[np.arange(E), jx])
        s_idx, d_idx = row // D, row % D
        pre = np.exp(-sgn * Yf[row * W + pstar])
        day_close = np.exp(-sgn * Yf[row * W + B])
        pc = p.prev_close[s_idx, d_idx]
        onset_ts = p.bar_ts(s_idx, d_idx, pstar)
        trough_ts = p.bar_ts(s_idx, d_idx, tb)
        end_ts = p.bar_ts(s_idx, d_idx, b1 - 1)
        minutes = p.slots.minutes
        n_tests = sum(B - n + 1 for n in nbars if n <= B)
        pval = np.minimum(1.0, n_tests * ndtr(score))
        daily_vol = lev[s_idx, d_idx, 0] * np.sqrt(prof.shape[s_idx, d_idx].sum(axis=-1))
        has_pc = np.isfinite(pc) & (pc > 0)
        depth_pre = ext_price / pre - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            depth_pc = np.where(has_pc, ext_price / pc - 1, np.nan)
            close_pc = np.where(has_pc, day_close / pc - 1, np.nan)
            move = pre - ext_price
            recovery = np.where(move != 0, (day_close - ext_price) / move, np.nan)
        dur = (tb - pstar + 1) * minutes
        at_limit = self._at_limit(p, s_idx, d_idx, pc, ext_price, sgn, board, is_st)
        iso = "%Y-%m-%dT%H:%M:%S+08:00"
        cols = {
            "onset": onset_ts.strftime(iso).tolist(), "trough": trough_ts.strftime(iso).tolist(),
            "window_minutes": dur.tolist(), "best_window_minutes": (win * minutes).tolist(),
            "depth_vs_prev_close": _floats(depth_pc), "depth_vs_pre_move": _floats(depth_pre),
            "pre_move_level": _floats(np.round(pre, 4)), "extreme_price": _floats(np.round(ext_price, 4)),
            "speed_pct_per_min": _floats(depth_pre * 100 / dur), "recovery_by_close": _floats(recovery),
            "close_vs_prev_close": _floats(close_pc), "onset_z": _floats(-sgn * onset_z),
            "episode_end": end_ts.strftime(iso).tolist(), "at_limit": at_limit,
            "daily_vol_estimate": _floats(daily_vol), "history_days": prof.n_days[s_idx, d_idx].tolist(),
            "min_move": _floats(min_move[s_idx]),
        }
        names = list(cols)
        const = {"z_threshold": self.z, "freq": p.freq}
        details = [dict(zip(names, vals), **const) for vals in zip(*cols.values())]
        return pd.DataFrame({
            "symbol": p.symbols[s_idx].astype(str), "kind": kind, "start": onset_ts, "end": trough_ts,
            "magnitude": np.where(has_pc, depth_pc, depth_pre),
            "reference": np.where(has_pc, "prev_close", "pre_move_level"),
            "score": -sgn * score, "p_value": pval, "details": details})

    @staticmethod
    def _at_limit(p: Panel, s_idx, d_idx, pc, ext_price, sgn, board, is_st) -> list:
        """Whether the extreme price sits on the board's limit price (None when unknown)."""
        out: list = [None] * len(s_idx)
        cache: dict = {}
        for e in np.flatnonzero(np.isfinite(pc)):
            key = (str(board[s_idx[e]]), p.days[d_idx[e]].date(), bool(is_st[s_idx[e]]))
            if key not in cache:
                cache[key] = limit_pct(*key)
            lim = cache[key]
            if lim is not None:
                out[e] = bool(abs(ext_price[e] - limit_price(float(pc[e]), lim, up=sgn > 0)) < 0.005)
        return out


class _Gather:
    """A flat array only ever read at a few positions: ``g[idx]`` = ``fn(base[idx])``, elementwise the
    same numbers as ``fn(base)[idx]`` without computing ``fn`` over the whole panel."""

    def __init__(self, base: np.ndarray, fn):
        self.base, self.fn = base, fn

    def __getitem__(self, idx):
        return self.fn(self.base[idx])


def _floats(a: np.ndarray) -> list:
    """Plain floats for JSON-able details; NaN becomes None."""
    return [None if v != v else v for v in np.asarray(a, dtype=np.float64).tolist()]
