"""Exchange rules computed as the exchanges define them (thresholds and citations: ``anomaly.rules``).

Three detectors; all skip index symbols and no-limit days. ``reference`` says what a magnitude is
measured against: ``prev_close`` (limit records), ``index`` (deviations: the stock's return minus the
index's, the index named in ``details["index"]``), ``day_low`` (amplitude), ``free_float`` (turnover).

``limits`` — kinds ``limit_up_touch``, ``limit_up_close``, ``limit_down_touch``, ``limit_down_close``
    limit price = round_half_up(prev_close × (1 ± limit), 0.01) with limit = 10 % main board, 20 %
    ChiNext (since 2020-08-24) / STAR, 30 % BSE, 5 % main-board ST (until 2026-07-05). Touched:
    high ≥ limit-up (low ≤ limit-down) in cents; closed at limit: close = limit price. One record
    per side and day: ``*_close`` when it closed at the limit, else ``*_touch`` (touched, not
    closed — 炸板 / 翘板). magnitude = close / prev_close − 1 for ``*_close``, extreme / prev_close − 1
    for ``*_touch``; score = magnitude / limit (±1 at the limit). details: limit_price, limit_pct,
    touched, closed_at_limit, one_price (一字板: open = high = low = close), board, st, OHLC.

``deviation`` — kinds ``abnormal_3d`` (异常波动), ``serious_10d`` / ``serious_30d`` (严重异常波动)
    daily deviation d_t = R*_t − R_index,t where R*_t = close/prev_close − 1, replaced by exactly
    ±limit when the stock closed at its limit price (收盘价涨跌幅偏离值 with limit clipping), and
    R_index,t the classification index's daily return (``rules.REGULATOR_INDEX`` when loaded, else
    the board benchmark; named in every record). Cumulative deviation over a window = Σ d.
    ``abnormal_3d``: some window of 1–3 consecutive trading days of the stock ending today, after
    the last trigger (the count restarts after each 异常波动), has Σ d ≥ up or ≤ down (±20 % main,
    ±30 % ChiNext/STAR, ±12 % main-board ST until 2026-07-05). ``serious_10d`` / ``serious_30d``:
    some window of up to 10 / 30 days has Σ d ≥ +100 % / +200 % or ≤ −50 % / −70 % — reported on the
    first day the condition holds (not again while it keeps holding). magnitude = the cumulative
    deviation of the reported window (the largest in the triggering direction); score =
    magnitude / threshold (≥ 1). details: window_days, window_start, window_end, daily_deviations,
    stock_returns (clipped), index_returns, index, threshold, label, rule.

``lhb`` — kinds ``deviation_1d_lhb``, ``amplitude_lhb``, ``turnover_lhb`` (龙虎榜 daily screens)
    |d_t| ≥ 7 % (ChiNext/STAR 15 %); amplitude = (high − low) / low ≥ 15 % (30 %); turnover ≥ 20 %
    (30 %) from the bars' ``turnover`` column (percent of free-float shares). magnitude = d_t,
    amplitude, turnover (fraction); score = magnitude / threshold. The exchange publishes only the
    top 5 per criterion ranked across the market (ties by amount, volume); a partial universe cannot
    reproduce that ranking, so every stock meeting the threshold is flagged and ``details["note"]``
    says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import rules
from ..marketmodel import (DailyInputs, assign_benchmarks, column_details, concat_records, daily_inputs,
                           records_frame, rounded)
from .base import Context, Detector, register

log = logging.getLogger("anomaly.detect")
TOL = 1e-9
LHB_NOTE = ("threshold screen: the exchange publishes only the top 5 securities per criterion, "
            "ranked across the whole market (ties by amount, then volume); this flags every stock "
            "that meets the threshold")


# --- the regulator's daily deviation ------------------------------------------------------------


def regulator_index(inp: DailyInputs) -> pd.Series:
    """Per symbol: the exchange's classification index when loaded, else the board benchmark."""
    available = [c for c in inp.idx_ret.columns if inp.idx_ret[c].notna().any()]
    reg_ids = set(rules.REGULATOR_INDEX.values())
    reg = assign_benchmarks(inp.info, [a for a in available if a in reg_ids], table=rules.REGULATOR_INDEX)
    want = pd.Series([rules.REGULATOR_INDEX.get(k) for k in zip(inp.info["exchange"], inp.info["board"])],
                     index=inp.info.index, dtype=object)
    exact = (reg == want) & want.notna()
    out = reg.where(exact, inp.bench)
    out[inp.info["board"].eq("index").to_numpy()] = None
    return out


def daily_deviation(inp: DailyInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series]:
    """Long arrays (d, clipped stock return, index return) and the index used per symbol (computed
    once per ``DailyInputs``: ``deviation`` and ``lhb`` both need them; the arrays are read-only)."""
    hit = inp.memo.get("daily_deviation")
    if hit is None:
        hit = inp.memo["daily_deviation"] = _daily_deviation(inp)
        for a in hit[:3]:
            a.flags.writeable = False
    return hit


def _daily_deviation(inp: DailyInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Series]:
    p = inp.panel
    idx_ids = regulator_index(inp)
    r_idx = np.full(len(p.bars), np.nan)
    if len(inp.idx_ret.columns):
        kmap = {k: i for i, k in enumerate(inp.idx_ret.columns)}
        k = pd.Series(idx_ids.to_numpy()).map(kmap).to_numpy()[p.col]
        ok = ~pd.isna(k)
        R = inp.idx_ret.to_numpy(dtype=float)
        r_idx[ok] = R[p.row[ok], k[ok].astype(np.int64)]
    lim = inp.limits
    r = inp.ret.copy()
    r = np.where(lim["closed_up"], lim["pct"], r)
    r = np.where(lim["closed_down"], -lim["pct"], r)
    valid = inp.is_stock & ~inp.unreliable & np.isfinite(lim["pct"])
    r = np.where(valid, r, np.nan)
    return r - r_idx, r, r_idx, idx_ids


# --- limits ---------------------------------------------------------------------------------------


@register
@dataclass
class LimitDetector(Detector):
    """Limit-up / limit-down touched or closed at, with board-correct limit prices."""

    name = "limits"
    freq = "daily"
    kinds = ("limit_up_touch", "limit_up_close", "limit_down_touch", "limit_down_close")

    touches: bool = True      # also report touched-but-not-closed days

    @property
    def lookback_days(self) -> int:
        return 1

    def _detect(self, bars, ctx: Context):
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        p = inp.panel
        lim = inp.limits
        o, h, l, c, pc = (p.col_values(k) for k in ("open", "high", "low", "close", "prev_close"))
        out = []
        for side, touched, closed, ext, lp in (("up", lim["touched_up"], lim["closed_up"], h, lim["up"]),
                                               ("down", lim["touched_down"], lim["closed_down"], l, lim["down"])):
            for kind, m in ((f"limit_{side}_close", closed),
                            (f"limit_{side}_touch", touched & ~closed if self.touches else touched & False)):
                m = m & inp.is_stock
                idx = np.flatnonzero(m)
                if not len(idx):
                    continue
                mag = (c[idx] if kind.endswith("close") else ext[idx]) / pc[idx] - 1.0
                one = (o[idx] == h[idx]) & (h[idx] == l[idx]) & (l[idx] == c[idx])
                details = column_details(len(idx), {
                    "limit_price": rounded(lp[idx], 2), "limit_pct": rounded(lim["pct"][idx], 4),
                    "closed_at_limit": closed[idx].tolist(), "one_price": one.tolist(),
                    "board": inp.board[idx].tolist(), "st": inp.st[idx].tolist(),
                    "open": rounded(o[idx], 4), "high": rounded(h[idx], 4), "low": rounded(l[idx], 4),
                    "close": rounded(c[idx], 4), "prev_close": rounded(pc[idx], 4),
                    "statement": [_limit_statement(side, a, b, cl) for a, b, cl in
                                  zip(lp[idx], c[idx], closed[idx])]},
                    {"side": side, "touched": True,
                     "formula": "limit price = round_half_up(prev_close * (1 ± limit), 0.01)"})
                out.append(records_frame(p, idx, kind, mag, "prev_close", mag / lim["pct"][idx], None, details))
        return concat_records(out)


def _limit_statement(side: str, price: float, close: float, closed: bool) -> str:
    word = "limit-up" if side == "up" else "limit-down"
    if closed:
        return f"closed at the {word} price {price:.2f}"
    return f"touched the {word} price {price:.2f}; closed at {close:.2f}, not at the limit"


# --- 异常波动 / 严重异常波动 --------------------------------------------------------------------


def _thresholds(inp: DailyInputs, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Long arrays (up, down, days) of the rule ``name`` applying to each bar (NaN: none)."""
    n = len(inp.panel.bars)
    up, down, k = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    src = np.full(n, -1, dtype=np.int64)
    rows = [r for r in rules.DEVIATION_RULES if r.name == name]
    for ri, r in enumerate(rows):
        m = inp.board_in(r.boards) & (inp.day >= np.datetime64(r.start, "D"))
        if r.end is not None:
            m &= inp.day <= np.datetime64(r.end, "D")
        if r.st is not None:
            m &= inp.st == r.st
        up[m], down[m], k[m], src[m] = r.up, r.down, r.days, ri
    return up, down, k, [rows, src]


@register
@dataclass
class DeviationDetector(Detector):
    """异常波动 (3-day) and 严重异常波动 (10/30-day) cumulative closing-price deviation."""

    name = "deviation"
    freq = "daily"
    kinds = ("abnormal_3d", "serious_10d", "serious_30d")
    needs_context = True

    @property
    def lookback_days(self) -> int:
        return 40

    def _detect(self, bars, ctx: Context):
        if ctx.index_bars is None or not len(ctx.index_bars):
            log.info("deviation: no index bars in the context; skipped")
            return []
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        d, rs, ri, idx_ids = daily_deviation(inp)
        out = [_abnormal_3d(inp, d, rs, ri, idx_ids)]
        for name in ("serious_10d", "serious_30d"):
            out.append(_serious(inp, d, rs, ri, idx_ids, name))
        return concat_records(out)


def _symbol_index_info(inp: DailyInputs, idx_ids: pd.Series) -> tuple[list, list]:
    """Per panel symbol: the index its deviation uses and whether that is the regulator's index."""
    memo = inp.memo.get("window_index_info")
    if memo is not None and memo[0] is idx_ids:
        return memo[1]
    used = [idx_ids.get(sym) for sym in inp.panel.symbols]
    reg = [u == rules.REGULATOR_INDEX.get((ex, bd)) for u, ex, bd in
           zip(used, inp.info["exchange"].tolist(), inp.info["board"].tolist())]
    inp.memo["window_index_info"] = (idx_ids, (used, reg))
    return used, reg


def _window_details(inp, i, length, d, rs, ri, idx_ids, thr, rule) -> dict:
    p = inp.panel
    lo = i - length + 1                               # long rows lo..i: the same symbol (contiguous)
    used, reg = _symbol_index_info(inp, idx_ids)
    c = p.col[i]
    ds = p.day_str
    return {"window_days": int(length), "window_start": ds[p.row[lo]], "window_end": ds[p.row[i]],
            "cumulative_deviation": rounded([d[lo:i + 1].sum()])[0],
            "daily_deviations": rounded(d[lo:i + 1]),
            "stock_returns": rounded(rs[lo:i + 1]),
            "index_returns": rounded(ri[lo:i + 1]),
            "index": used[c],
            "index_is_regulator": reg[c],
            "threshold": thr, "label": rule.label, "rule": rule.source, "board": inp.board[i],
            "st": bool(inp.st[i]),
            "formula": "deviation = stock return (±limit when closed at the limit) - index return; "
                       "cumulative = sum over the window"}


def _abnormal_3d(inp: DailyInputs, d, rs, ri, idx_ids) -> list[dict]:
    p = inp.panel
    up, down, kd, (rows, src) = _thresholds(inp, "abnormal_3d")
    P, N = p.P, p.N
    D = p.packed(d)
    U, L = p.packed(up), p.packed(down)
    last = np.full(N, -1, dtype=np.int64)        # position of the last trigger per symbol
    hits = []                                    # (pos, col, length, value, threshold)
    Kmax = max(int(kd.max()), 1) if len(kd) else 3   # 3 trading days (rules.DEVIATION_RULES)
    for pos in range(P):
        best_val = np.zeros(N)
        best_len = np.zeros(N, dtype=np.int64)
        best_ratio = np.zeros(N)
        s = np.zeros(N)
        alive = np.ones(N, dtype=bool)
        u, lo = U[pos], L[pos]
        for k in range(1, Kmax + 1):
            r = pos - k + 1
            if r < 0:
                break
            alive &= (r > last) & np.isfinite(D[r])
            s = s + np.where(alive, D[r], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(alive & (s >= u - TOL), s / u, np.where(alive & (s <= lo + TOL), s / lo, 0.0))
            better = ratio > best_ratio
            best_ratio = np.where(better, ratio, best_ratio)
            best_val = np.where(better, s, best_val)
            best_len = np.where(better, k, best_len)
        trig = np.flatnonzero(best_ratio >= 1.0 - 1e-9)
        if len(trig):
            last[trig] = pos
            for j in trig:
                hits.append((pos, j, best_len[j], best_val[j], u[j] if best_val[j] > 0 else lo[j]))
    if not hits:
        return []
    lr = np.full((P, N), -1, dtype=np.int64)
    lr[p.pos, p.col] = np.arange(len(p.bars))
    idx = np.array([lr[h[0], h[1]] for h in hits], dtype=np.int64)
    details = []
    for h, i in zip(hits, idx):
        rule = rows[src[i]]
        details.append(_window_details(inp, i, h[2], d, rs, ri, idx_ids, h[4], rule))
    mags = np.array([h[3] for h in hits])
    thr = np.array([abs(h[4]) for h in hits])
    return records_frame(p, idx, "abnormal_3d", mags, "index", mags / thr, None, details)


def _exact_windows(D: np.ndarray, pos: np.ndarray, col: np.ndarray, K: int) -> tuple[np.ndarray, ...]:
    """For packed cells (pos, col): the largest and smallest Σ D over windows of 1..K rows ending
    there that contain no NaN, and their lengths (vectorised over the cells)."""
    n = len(pos)
    best_up, best_dn = np.full(n, -np.inf), np.full(n, np.inf)
    len_up, len_dn = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    s = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for k in range(1, K + 1):
        r = pos - k + 1
        alive &= r >= 0
        v = D[np.maximum(r, 0), col]
        alive &= np.isfinite(v)
        if not alive.any():
            break
        s = s + np.where(alive, v, 0.0)
        u = alive & (s > best_up)
        d = alive & (s < best_dn)
        best_up[u], len_up[u] = s[u], k
        best_dn[d], len_dn[d] = s[d], k
    return best_up, len_up, best_dn, len_dn


def _serious(inp: DailyInputs, d, rs, ri, idx_ids, name: str) -> list[dict]:
    """Edge-triggered 严重异常波动: Σ d over some window of up to K days crosses the threshold.

    Screen: with NaN counted as 0, max_k Σ = S[p+1] − min(S[p+1−K .. p]) (rolling min/max of the
    cumulative sum, ``scipy.ndimage``) bounds every valid window's sum; the few cells passing the
    screen (and the day before them, for the edge) are then evaluated exactly over windows that
    contain no missing deviation.
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    p = inp.panel
    up, down, kd, (rows, src) = _thresholds(inp, name)
    if not np.isfinite(up).any():
        return []
    K = int(kd.max())
    D = p.packed(d)
    S = np.vstack([np.zeros((1, p.N)), np.cumsum(np.nan_to_num(D, nan=0.0), axis=0)])  # S[q] = Σ rows < q
    o = (K - 1) // 2
    mn = minimum_filter1d(S, size=K, axis=0, origin=o, mode="constant", cval=np.inf)[:-1]
    mx = maximum_filter1d(S, size=K, axis=0, origin=o, mode="constant", cval=-np.inf)[:-1]
    U, L = p.packed(up), p.packed(down)
    with np.errstate(invalid="ignore"):
        screen = np.isfinite(D) & (((S[1:] - mn) >= U - TOL) | ((S[1:] - mx) <= L + TOL))
    pos, col = np.nonzero(screen)
    if not len(pos):
        return []
    bu, lu, bd, ld = _exact_windows(D, pos, col, K)
    pu, _, pdn, _ = _exact_windows(D, pos - 1, col, K)
    prev_ok = pos >= 1
    Ucell, Lcell = U[pos, col], L[pos, col]
    Uprev = np.where(prev_ok, U[np.maximum(pos - 1, 0), col], np.nan)
    Lprev = np.where(prev_ok, L[np.maximum(pos - 1, 0), col], np.nan)
    with np.errstate(invalid="ignore"):
        cond_up = bu >= Ucell - TOL
        cond_dn = bd <= Lcell + TOL
        prev_up = prev_ok & (pu >= Uprev - TOL)
        prev_dn = prev_ok & (pdn <= Lprev + TOL)
    lr = np.full((p.P, p.N), -1, dtype=np.int64)
    lr[p.pos, p.col] = np.arange(len(p.bars))
    out = []
    for cond, prev, best, ln, thr in ((cond_up, prev_up, bu, lu, Ucell), (cond_dn, prev_dn, bd, ld, Lcell)):
        k = np.flatnonzero(cond & ~prev)
        if not len(k):
            continue
        idx = lr[pos[k], col[k]]
        order = np.argsort(idx)
        k, idx = k[order], idx[order]
        mags = best[k]
        details = [_window_details(inp, i, int(ln[j]), d, rs, ri, idx_ids, float(thr[j]), rows[src[i]])
                   for i, j in zip(idx, k)]
        out.append(records_frame(p, idx, name, mags, "index", mags / np.abs(thr[k]), None, details))
    return concat_records(out)


# --- 龙虎榜 ---------------------------------------------------------------------------------------


def _screen_arrays(inp: DailyInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(inp.panel.bars)
    dev, amp, tov = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for s in rules.LHB_SCREENS:
        m = inp.board_in(s.boards) & (inp.day >= np.datetime64(s.start, "D"))
        if s.end is not None:
            m &= inp.day <= np.datetime64(s.end, "D")
        dev[m], amp[m], tov[m] = s.deviation, s.amplitude, s.turnover
    return dev, amp, tov


@register
@dataclass
class LhbDetector(Detector):
    """龙虎榜 (交易公开信息) daily screens: ±7 % deviation, 15 % amplitude, 20 % turnover (main)."""

    name = "lhb"
    freq = "daily"
    kinds = ("deviation_1d_lhb", "amplitude_lhb", "turnover_lhb")

    @property
    def lookback_days(self) -> int:
        return 1

    def _detect(self, bars, ctx: Context):
        inp = daily_inputs(bars, ctx.index_bars, ctx.benchmark, ctx.meta)
        p = inp.panel
        tdev, tamp, ttov = _screen_arrays(inp)
        ok = inp.is_stock & ~inp.unreliable & np.isfinite(inp.limits["pct"])
        h, l, c, pc = (p.col_values(k) for k in ("high", "low", "close", "prev_close"))
        tov = p.col_values("turnover") / 100.0
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = (h - l) / l
        out = []
        have_index = ctx.index_bars is not None and len(ctx.index_bars) > 0
        if have_index:
            d, rs, ri, idx_ids = daily_deviation(inp)
            with np.errstate(invalid="ignore"):
                m = ok & (np.abs(d) >= tdev - TOL)
            idx = np.flatnonzero(m)
            det = column_details(len(idx), {
                "deviation": rounded(d[idx]), "stock_return": rounded(rs[idx]), "index_return": rounded(ri[idx]),
                "index": idx_ids.to_numpy()[p.col[idx]].tolist(), "threshold": tdev[idx].tolist(),
                "closed_at_limit": (inp.limits["closed_up"][idx] | inp.limits["closed_down"][idx]).tolist(),
                "board": inp.board[idx].tolist()},
                {"note": LHB_NOTE,
                 "formula": "deviation = stock return (±limit when closed at the limit) - index return"})
            out.append(records_frame(p, idx, "deviation_1d_lhb", d[idx], "index", d[idx] / tdev[idx], None, det))
        else:
            log.info("lhb: no index bars; the ±7 %% deviation screen is skipped")
        with np.errstate(invalid="ignore"):
            m = ok & (amp >= tamp - TOL)
        idx = np.flatnonzero(m)
        det = column_details(len(idx), {
            "amplitude": rounded(amp[idx]), "high": rounded(h[idx], 4), "low": rounded(l[idx], 4),
            "threshold": tamp[idx].tolist(), "board": inp.board[idx].tolist(),
            "close_return": rounded(inp.ret[idx])},
            {"note": LHB_NOTE, "formula": "amplitude = (high - low) / low"})
        out.append(records_frame(p, idx, "amplitude_lhb", amp[idx], "day_low", amp[idx] / tamp[idx], None, det))
        with np.errstate(invalid="ignore"):
            m = ok & (tov >= ttov - TOL)
        idx = np.flatnonzero(m)
        det = column_details(len(idx), {
            "turnover": rounded(tov[idx]), "threshold": ttov[idx].tolist(), "board": inp.board[idx].tolist(),
            "close_return": rounded(inp.ret[idx])},
            {"note": LHB_NOTE, "formula": "turnover = volume / free-float shares (the bars' turnover column, %)"})
        out.append(records_frame(p, idx, "turnover_lhb", tov[idx], "free_float", tov[idx] / ttov[idx], None, det))
        return concat_records(out)
