"""A seeded SYNTHETIC A-share market with planted events — for tests, benchmarks and demos only.

Nothing produced here is market data. Every frame returned carries ``attrs["synthetic"] = True``
(and the truth frames a ``synthetic`` column), and nothing here may be presented as a real quote.
It exists because free sources no longer serve old minute bars, and because detectors can only be
scored against events whose onset, depth and recovery are *known*.

What makes it realistic enough to test against:

* real trading days (``anomaly.calendar``) and the real session layout (240 one-minute bars, lunch
  break, 13:00 reopen, flat 14:58/14:59 closing-call bars and a 15:00 auction print);
* a U-shaped intraday volatility that deliberately differs from ``intraday.default_shape`` (so the
  detectors must *learn* the profile), an intraday volatility AR(1) and day-to-day volatility
  clustering, Student-t (df 5) innovations, a market factor with per-stock betas, overnight and lunch
  gaps, a cent price grid and board-correct price limits (main 10 %, ChiNext/STAR 20 %);
* codes that ``anomaly.symbols.resolve`` accepts (SZ main 000001…, SH main 600000…, ChiNext 300001…,
  STAR 688001…). They are placeholders; some coincide with real companies, whose prices these are not.

Planted events (``Plant``) and their ground truth (onset bar, trough bar, realised depth, recovery):
``cliff`` (fast fall to a trough exactly ``depth`` below the pre-move level, then a bridge to the
planted recovery by the close — the 2023-05-24 iFlytek shape), ``spike`` (its mirror), ``slow_bleed``
(a steady drift down), ``limit_down_lock`` (a fall to the limit-down price, pinned there until the close)
and ``market_wide_drop`` (a drop of the market factor that every stock feels through its beta).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from . import calendar as cal
from .errors import BadInput
from .intraday import _slot_table
from .schema import BAR_COLUMNS, TZ

__all__ = ["Plant", "simulate_market", "simulate_daily", "synthetic_symbols", "limit_prices"]

KINDS = ("cliff", "spike", "slow_bleed", "limit_down_lock", "market_wide_drop")
DAILY_KINDS = ("cliff", "spike", "slow_bleed", "limit_down_lock", "limit_up_lock",
               "market_wide_drop", "volume_surge")
# per kind: (depth, duration, recovery); duration in minutes (intraday) — days for a daily slow_bleed
_DEFAULTS = {"cliff": (0.08, 3, 0.5), "spike": (0.08, 3, 0.5), "slow_bleed": (0.05, 120, 0.0),
             "limit_down_lock": (None, 5, 0.0), "limit_up_lock": (None, 1, 0.0),
             "market_wide_drop": (0.03, 10, 0.3), "volume_surge": (4.0, 1, 0.0)}
_LIMITS = {"main": 0.10, "chinext": 0.20, "star": 0.20, "bse": 0.30}
_CODE_START = {"main_sz": 1, "main_sh": 600000, "chinext": 300001, "star": 688001}


@dataclass(frozen=True)
class Plant:
    """One kind of planted event and where it goes.

    ``day``       index into the simulated days (negative counts from the end), a date, or None = all
    ``symbols``   None = all, an int k = the first k symbols, or a list of symbol ids
    ``prob``      fraction of the selected symbol-days that get the event (drawn from the seed)
    ``onset``     bar-end time of the first moving 1-minute bar ("13:01"), or "random"
    ``depth``     size as a positive fraction of the pre-move level (a ``(lo, hi)`` tuple draws
                  uniformly); for ``limit_down_lock`` None = to the limit; for ``volume_surge`` a factor
    ``duration``  minutes from onset to trough (days for a daily ``slow_bleed``)
    ``recovery``  fraction of the move recovered by the close (tuple = uniform draw)
    """
    kind: str
    day: int | str | None = -1
    symbols: int | Sequence[str] | None = None
    prob: float = 1.0
    onset: str = "13:01"
    depth: float | tuple[float, float] | None = None
    duration: int | None = None
    recovery: float | tuple[float, float] | None = None

    def filled(self) -> "Plant":
        d, n, r = _DEFAULTS[self.kind]
        return replace(self, depth=d if self.depth is None else self.depth,
                       duration=n if self.duration is None else self.duration,
                       recovery=r if self.recovery is None else self.recovery)


def _round2(x: np.ndarray) -> np.ndarray:
    # half-up to the cent; the epsilon keeps 9.045 (stored as 9.04499…) on the exchange's side
    return np.floor(x * 100.0 + 0.5 + 1e-7) / 100.0


def limit_prices(prev_close: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``rules.limit_price`` (down, up) for arrays of previous closes and limit fractions."""
    pc = np.asarray(prev_close, dtype=np.float64)
    return _round2(pc * (1 - pct)), _round2(pc * (1 + pct))


def synthetic_symbols(n: int, boards: dict[str, float] | None = None) -> pd.DataFrame:
    """Placeholder codes with their boards: ``symbol, board, limit`` (deterministic in ``n``)."""
    boards = boards or {"main": 0.7, "chinext": 0.2, "star": 0.1}
    unknown = set(boards) - set(_CODE_START) - {"main"}
    if unknown:
        raise BadInput(f"unknown board(s) {sorted(unknown)}; use main, chinext, star")
    names = list(boards)
    w = np.array([boards[b] for b in names], dtype=float)
    counts = np.floor(w / w.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    cap = {"chinext": 2999, "star": 1999}
    rows = []
    for b, c in zip(names, counts):
        if b == "main":
            # SH main codes stay inside 600000-601999 (602xxx is no A-share prefix); the rest go to SZ
            sh = min(c // 2, 2000)
            if c - sh > 4999:
                raise BadInput("simulate supports at most 6,999 main-board symbols")
            rows += [(f"{_CODE_START['main_sz'] + i:06d}", "main") for i in range(c - sh)]
            rows += [(f"{_CODE_START['main_sh'] + i:06d}", "main") for i in range(sh)]
        else:
            if c > cap[b]:
                raise BadInput(f"simulate supports at most {cap[b]:,} {b} symbols")
            rows += [(f"{_CODE_START[b] + i:06d}", b) for i in range(c)]
    out = pd.DataFrame(rows, columns=["symbol", "board"])
    out["limit"] = out["board"].map(_LIMITS)
    return out.sort_values("symbol").reset_index(drop=True)


def _universe(n: int, boards: dict[str, float] | None, symbols: Sequence[str] | None) -> pd.DataFrame:
    """``symbol, board, limit`` of the simulated stocks: given codes, or ``n`` placeholders."""
    if symbols is None:
        if n < 1:
            raise BadInput("n_symbols must be at least 1")
        return synthetic_symbols(n, boards)
    from .symbols import resolve
    rows = []
    for text in symbols:
        sym = resolve(text)
        if sym.is_index:
            raise BadInput(f"cannot simulate {sym.id}: it is an index, not a stock")
        rows.append((sym.id, sym.board, _LIMITS[sym.board]))
    out = pd.DataFrame(rows, columns=["symbol", "board", "limit"]).drop_duplicates("symbol")
    if out.empty:
        raise BadInput("no symbols to simulate")
    return out.sort_values("symbol").reset_index(drop=True)


def _days(start, n_days: int) -> pd.DatetimeIndex:
    if n_days < 1:
        raise BadInput("n_days must be at least 1")
    s = pd.Timestamp(start)
    days = cal.trading_days(s, s + pd.Timedelta(days=2 * n_days + 30))
    if len(days) < n_days:
        raise BadInput(f"not enough trading days in the calendar after {s.date()} for {n_days} days")
    return days[:n_days]


def _student(rng: np.random.Generator, df: float, size) -> np.ndarray:
    """Unit-variance Student-t draws (fat tails)."""
    return rng.standard_t(df, size=size) / math.sqrt(df / (df - 2.0))


def _sim_shape() -> np.ndarray:
    """The simulator's own 1-minute volatility U-shape (sd units, mean square 1)."""
    j = np.arange(120)
    am = 0.8 + 2.0 * np.exp(-j / 15.0)
    am[0] = 3.0
    k = np.arange(120)
    pm = 0.7 + 0.4 * np.exp(-k / 8.0) + 0.5 * np.exp(-(116 - k) / 12.0)
    pm[0] = 1.8
    pm[117:119] = 0.0
    pm[119] = 1.6
    u = np.concatenate([am, pm])
    return u / math.sqrt((u ** 2).mean())


def _resolve_plants(events, symbols: np.ndarray, days: pd.DatetimeIndex, kinds) -> list[Plant]:
    out = []
    for e in events or ():
        p = e if isinstance(e, Plant) else Plant(**e)
        if p.kind not in kinds:
            raise BadInput(f"unknown planted event kind {p.kind!r}; use one of {', '.join(kinds)}")
        if not 0 <= p.prob <= 1:
            raise BadInput(f"Plant.prob must be within [0, 1], got {p.prob}")
        out.append(p.filled())
    return out


def _day_mask(p: Plant, days: pd.DatetimeIndex) -> np.ndarray:
    m = np.zeros(len(days), dtype=bool)
    if p.day is None:
        m[:] = True
    elif isinstance(p.day, (int, np.integer)):
        if not -len(days) <= p.day < len(days):
            raise BadInput(f"Plant.day {p.day} is outside the {len(days)} simulated days")
        m[p.day] = True
    else:
        hit = days == pd.Timestamp(p.day).normalize()
        if not hit.any():
            raise BadInput(f"Plant.day {p.day} is not one of the simulated trading days")
        m |= hit
    return m


def _sym_mask(p: Plant, symbols: np.ndarray) -> np.ndarray:
    if p.symbols is None:
        return np.ones(len(symbols), dtype=bool)
    if isinstance(p.symbols, (int, np.integer)):
        m = np.zeros(len(symbols), dtype=bool)
        m[:int(p.symbols)] = True
        return m
    want = {str(x) for x in p.symbols}
    missing = want - set(symbols)
    if missing:
        raise BadInput(f"Plant.symbols {sorted(missing)[:3]} are not simulated symbols")
    return np.isin(symbols, list(want))


def _draw(rng: np.random.Generator, v, n: int) -> np.ndarray:
    if isinstance(v, tuple):
        return rng.uniform(v[0], v[1], size=n)
    return np.full(n, float(v))


def _random_onsets(duration: int) -> np.ndarray:
    """The 0-based first bars a random onset may take: the whole move stays inside one session, away
    from the session's first 5 minutes and from the last 30 minutes of the day."""
    s = _slot_table("1min")
    return np.array([j for j in range(s.n) if (j >= 5 and j + duration <= s.first_pm) or
                     (j >= s.first_pm + 5 and j + duration <= s.n - 30)], dtype=np.int64)


def _check_random_onset(p: Plant) -> None:
    """``BadInput`` for ``onset="random"`` with a duration that fits in no session."""
    if p.onset != "random":
        return
    duration = int(p.duration) if p.kind == "market_wide_drop" else max(int(p.duration), 1)
    if len(_random_onsets(duration)):
        return
    s = _slot_table("1min")
    longest = max(s.first_pm - 5, (s.n - 30) - (s.first_pm + 5))
    raise BadInput(f"Plant({p.kind!r}, onset='random', duration={duration}): a {duration}-minute move does "
                   f"not fit inside one trading session — a random onset keeps the whole move within the "
                   f"morning (after 09:35) or the afternoon (13:06–14:30), so it can last at most {longest} "
                   f"minutes; give a shorter duration or a fixed onset such as onset='09:45'")


def _onsets(rng: np.random.Generator, onset: str, duration: int, n: int) -> np.ndarray:
    """0-based 1-minute bar index of the first moving bar (onset "HH:MM" or "random")."""
    s = _slot_table("1min")
    if onset == "random":
        # keep the whole move inside one session, away from the first 5 minutes and the close
        ok = _random_onsets(duration)
        if not len(ok):
            raise BadInput(f"onset='random': a {duration}-minute move does not fit inside one trading "
                           "session; give a shorter duration or a fixed onset")
        return rng.choice(ok, size=n)
    try:
        hh, mm = (int(x) for x in onset.split(":"))
    except ValueError:
        raise BadInput(f"Plant.onset must be 'HH:MM' or 'random', got {onset!r}") from None
    code = s.code_of_minute[hh * 60 + mm] if 0 <= hh * 60 + mm <= 1440 else -1
    if code < 0:
        raise BadInput(f"Plant.onset {onset} is not a 1-minute bar end (09:31–11:30, 13:01–15:00)")
    return np.full(n, int(code))


@dataclass
class _Day:
    """Per-day working arrays of the intraday simulation (1-minute bars, rows = symbols)."""
    P: np.ndarray         # (S, B+1) log path, position 0 = open
    bar_sd: np.ndarray    # (S, B) noise scale per bar
    lunch: np.ndarray     # (S,) lunch gap (log)
    lim_dn: np.ndarray
    lim_up: np.ndarray
    pc: np.ndarray


def simulate_market(n_symbols: int = 50, n_days: int = 21, freq: str = "1min", seed: int = 0,
                    start="2023-05-22", events: Sequence[Plant | dict] = (), market_factor: bool = True,
                    boards: dict[str, float] | None = None, daily_vol: tuple[float, float] = (0.012, 0.04),
                    tail_df: float = 5.0, symbols: Sequence[str] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded SYNTHETIC minute bars for many symbols, and the ground truth of the planted events.

    Returns ``(bars, truth)``. ``bars`` is a canonical intraday frame (sorted by symbol, ts; 1-minute
    or 5-minute bars aggregated from the same 1-minute path) with ``attrs["synthetic"] = True``.
    ``truth`` has one row per planted symbol-day: ``symbol, kind, day, onset, trough, pre_move_level,
    extreme_price, depth`` (signed, realised, vs the pre-move level), ``planted_depth`` (signed),
    ``depth_vs_prev_close, recovery`` (realised fraction of the move recovered by the close),
    ``planted_recovery, duration_min, at_limit, synthetic``. Onset/trough are bar-end timestamps
    of ``freq`` (the coarse bar containing the 1-minute onset for 5-minute output).
    ``symbols`` names the simulated stocks (any A-share codes; boards and limits follow the codes)
    instead of generated placeholders. Same arguments → identical frames.
    """
    if freq not in ("1min", "5min"):
        raise BadInput(f"simulate_market supports freq 1min or 5min, got {freq!r}")
    meta = _universe(n_symbols, boards, symbols)
    n_symbols = len(meta)
    rng = np.random.default_rng(seed)
    days = _days(start, n_days)
    symbols = meta["symbol"].to_numpy(dtype=object)
    limit = meta["limit"].to_numpy(dtype=float)
    growth = limit > 0.15
    S, D = n_symbols, n_days
    s1 = _slot_table("1min")
    B = s1.n
    u = _sim_shape()
    flat = s1.flat
    # per-symbol constants
    price = _round2(np.clip(np.exp(rng.normal(math.log(12.0), 0.7, S)), 2.5, 250.0))
    dvol = np.exp(rng.uniform(math.log(daily_vol[0]), math.log(daily_vol[1]), S))
    dvol *= np.where(growth, 1.25, 1.0)
    beta = rng.uniform(0.5, 1.5, S) if market_factor else np.zeros(S)
    base_vol = np.exp(rng.normal(math.log(20_000), 0.8, S))
    float_shares = base_vol * B / 0.02
    vshape = 0.6 + 2.5 * np.exp(-np.arange(B) / 20.0) + 1.0 * np.exp(-(B - 1 - np.arange(B)) / 15.0)
    vshape[s1.first_pm] *= 1.5
    plants = _resolve_plants(events, symbols, days, KINDS)
    for p in plants:
        _check_random_onset(p)
    h_m, h_s = 0.0, rng.normal(0, 0.3, S)
    out = {k: np.empty((S, D, B)) for k in ("open", "high", "low", "close", "volume", "amount")}
    pcs = np.empty((S, D))
    truth_rows: list[pd.DataFrame] = []
    pc = price.copy()
    for d in range(D):
        h_m = 0.9 * h_m + math.sqrt(1 - 0.81) * 0.25 * rng.normal()
        h_s = 0.9 * h_s + math.sqrt(1 - 0.81) * 0.3 * rng.normal(size=S)
        sig_m = 0.010 * math.exp(h_m) if market_factor else 0.0
        sig_s = dvol * np.exp(h_s)
        idio = np.sqrt(np.maximum(sig_s ** 2 - (beta * sig_m) ** 2, (0.4 * sig_s) ** 2))
        # intraday volatility clustering: log-vol AR(1) along the minutes, stationary sd 0.3
        rho = 0.97
        e = rng.normal(size=(S, B)) * 0.3 * math.sqrt(1 - rho ** 2)
        x0 = rng.normal(size=S) * 0.3
        lv = lfilter([1.0], [1.0, -rho], e, axis=1) + x0[:, None] * rho ** np.arange(1, B + 1)
        v = np.exp(lv - 0.09)
        mkt = sig_m / math.sqrt(B) * u * _student(rng, tail_df, B)
        day_plants = [p for p in plants if _day_mask(p, days)[d]]
        mk_rows = []
        for p in day_plants:
            if p.kind != "market_wide_drop":
                continue
            j0 = int(_onsets(rng, p.onset, p.duration, 1)[0])
            dep = float(_draw(rng, p.depth, 1)[0])
            rec = float(_draw(rng, p.recovery, 1)[0])
            k = max(int(p.duration), 1)
            drop = math.log(1 - dep)
            mkt[j0:j0 + k] += drop / k
            after = np.flatnonzero((np.arange(B) >= j0 + k) & ~flat)
            if len(after) and rec:
                mkt[after] += -rec * drop / len(after)
            mk_rows.append((p, j0, k, dep, rec))
        bar_sd = idio[:, None] / math.sqrt(B) * u[None, :] * v
        x = beta[:, None] * mkt[None, :] + bar_sd * _student(rng, tail_df, (S, B))
        lunch = rng.normal(size=S) * 0.3 * sig_s / math.sqrt(B)
        x[:, s1.first_pm] += lunch
        x[:, flat] = 0.0
        gap = beta * sig_m * 0.4 * rng.normal() + 0.4 * idio * rng.normal(size=S)
        lim_dn, lim_up = limit_prices(pc, limit)
        P = np.empty((S, B + 1))
        P[:, 0] = np.log(pc) + gap
        P[:, 1:] = P[:, :1] + np.cumsum(x, axis=1)
        # clip before planting too, so an event starts from the price a reader of the bars would see
        P = np.clip(P, np.log(lim_dn)[:, None], np.log(lim_up)[:, None])
        day = _Day(P, bar_sd, lunch, lim_dn, lim_up, pc)
        fixes = []
        for p in day_plants:
            if p.kind == "market_wide_drop":
                continue
            sel = np.flatnonzero(_sym_mask(p, symbols) & (rng.random(S) < p.prob))
            if len(sel):
                fixes.append(_apply_symbol_event(rng, day, p, sel, u))
        P = np.clip(day.P, np.log(lim_dn)[:, None], np.log(lim_up)[:, None])
        c = _round2(np.exp(P[:, 1:]))
        o = np.empty_like(c)
        o[:, 0] = _round2(np.exp(P[:, 0]))
        o[:, 1:] = c[:, :-1]
        o[:, s1.first_pm] = np.clip(_round2(c[:, s1.first_pm - 1] * np.exp(lunch)), lim_dn, lim_up)
        wick = bar_sd * np.abs(rng.normal(size=(S, B))) * 0.6
        hi = np.clip(_round2(np.maximum(o, c) * np.exp(wick)), None, lim_up[:, None])
        lo = np.clip(_round2(np.minimum(o, c) * np.exp(-np.abs(rng.normal(size=(S, B))) * bar_sd * 0.6)),
                     lim_dn[:, None], None)
        last_live = np.flatnonzero(~flat)[-2] if flat.any() else B - 2   # 14:57
        for arr in (o, hi, lo, c):
            arr[:, flat] = c[:, [last_live]]
        o[:, -1] = hi[:, -1] = lo[:, -1] = c[:, -1]                       # single auction print
        for f in fixes:
            f(o, hi, lo, c)
        hi = np.maximum(hi, np.maximum(o, c))
        lo = np.minimum(lo, np.minimum(o, c))
        vol = base_vol[:, None] * vshape[None, :] * np.exp(0.4 * rng.normal(size=(S, B)))
        vol *= 1 + np.minimum(2 * np.abs(np.diff(P, axis=1)) / np.maximum(bar_sd, 1e-9), 10)
        vol[:, flat] = 0.0
        vol[:, -1] = base_vol * 8 * np.exp(0.3 * rng.normal(size=S))
        locked = (hi == lo) & (lo == lim_dn[:, None]) & (np.arange(B) > 0)
        vol[locked] *= 0.1
        vol = np.floor(vol / 100.0) * 100.0
        out["open"][:, d], out["high"][:, d], out["low"][:, d], out["close"][:, d] = o, hi, lo, c
        out["volume"][:, d] = vol
        out["amount"][:, d] = np.round(vol * (o + hi + lo + c) / 4.0, 2)
        pcs[:, d] = pc
        truth_rows.append(_truth_for_day(day, fixes, mk_rows, symbols, beta, days[d], o, hi, lo, c))
        pc = c[:, -1].copy()
    bars = _assemble(out, pcs, symbols, days, float_shares, freq)
    truth = _finish_truth(pd.concat(truth_rows, ignore_index=True) if truth_rows else None, days, freq)
    bars.attrs.update(synthetic=True, generator="anomaly.simulate.simulate_market", seed=seed)
    truth.attrs.update(synthetic=True, generator="anomaly.simulate.simulate_market", seed=seed)
    return bars, truth


def _apply_symbol_event(rng, day: _Day, p: Plant, sel: np.ndarray, u: np.ndarray):
    """Plant one event kind in rows ``sel`` of the day's log path; return the post-rounding fix.

    The returned callable pins exact prices after rounding (the trough low, the locked limit bars)
    and carries the realised truth of the planted rows.
    """
    B = day.P.shape[1] - 1
    n = len(sel)
    k = max(int(p.duration), 1)
    j0 = _onsets(rng, p.onset, k, n)                         # 0-based first moving bar
    dep = _draw(rng, p.depth, n) if p.depth is not None else np.full(n, np.nan)
    rec = _draw(rng, p.recovery, n)
    pos = np.arange(B + 1)[None, :]
    P = day.P[sel]
    pre_pos = j0                                              # path position just before the move
    pre_log = P[np.arange(n), pre_pos]
    pre_price = _round2(np.exp(pre_log))
    lim_dn, lim_up = day.lim_dn[sel], day.lim_up[sel]
    T = np.minimum(j0 + k, B)                                 # path position after the trough bar
    info = dict(kind=p.kind, sel=sel, j0=j0, T=T, pre=pre_price, planted=dep, rec=rec, k=k)
    if p.kind in ("cliff", "spike"):
        up = p.kind == "spike"
        sgn = 1.0 if up else -1.0
        ext = _round2(pre_price * (1 + sgn * dep))
        at_lim = ext >= lim_up if up else ext <= lim_dn
        ext = np.where(at_lim, lim_up if up else lim_dn, ext)
        ext_log = np.log(ext)
        frac = np.clip((pos - j0[:, None]) / k, 0, 1) ** 0.8
        noise = 0.3 * day.bar_sd[sel].mean(axis=1, keepdims=True) * rng.normal(size=(n, B + 1))
        ramp = pre_log[:, None] + (ext_log - pre_log)[:, None] * frac + noise
        in_move = (pos > j0[:, None]) & (pos < T[:, None])
        P = np.where(in_move, ramp, P)
        # trough bar closes a little off its extreme (a wick), then a bridge to the planted close
        bounce = np.abs(ext_log - pre_log) * rng.uniform(0.02, 0.12, n)
        PT = ext_log - sgn * bounce
        rows = np.arange(n)
        P[rows, T] = PT
        target = np.log(pre_price * (1 + sgn * np.abs(ext / pre_price - 1) * (1 - rec)))
        var = np.concatenate([[0.0], np.cumsum(u ** 2)])
        V = var[None, :] - var[T][:, None]
        VB = var[B] - var[T]
        lam = np.clip(np.where(VB[:, None] > 0, V / np.maximum(VB[:, None], 1e-12), 1.0), 0, 1)
        N = day.P[sel] - day.P[sel][rows, T][:, None]
        bridge = PT[:, None] + N - lam * N[:, [B]] + lam * (target - PT)[:, None]
        after = pos > T[:, None]
        P = np.where(after, bridge, P)
        # keep the planted extreme unique: reflect (not clamp) later wanderings off a guard level,
        # so the path keeps moving instead of sticking to a floor
        guard = (ext_log - sgn * math.log(1.004))[:, None]
        reflected = guard - np.abs(P - guard) if up else guard + np.abs(P - guard)
        P = np.where(pos >= j0[:, None] + 1, reflected, P)
        P[rows, T] = PT
        info.update(ext=ext, at_limit=at_lim, up=up)
    elif p.kind == "slow_bleed":
        drop = np.log(1 - dep)
        ramp = np.clip((pos - j0[:, None]) / k, 0, 1) * drop[:, None]
        rec_ramp = (np.clip((pos - T[:, None]) / np.maximum(B - T, 1)[:, None], 0, 1)
                    * (-rec * drop)[:, None])
        P = P + ramp + rec_ramp
        info.update(ext=None, at_limit=np.zeros(n, bool), up=False)
    elif p.kind == "limit_down_lock":
        lim_log = np.log(lim_dn)
        tgt = lim_log if np.all(np.isnan(dep)) else np.maximum(np.log(pre_price * (1 - dep)), lim_log)
        frac = np.clip((pos - j0[:, None]) / k, 0, 1)
        P = np.where(pos > j0[:, None], pre_log[:, None] + (tgt - pre_log)[:, None] * frac, P)
        ext = np.where(np.isclose(tgt, lim_log), lim_dn, _round2(np.exp(tgt)))
        info.update(ext=ext, at_limit=np.isclose(tgt, lim_log), up=False)
    day.P[sel] = P

    def fix(o, hi, lo, c):
        rows = sel
        cols = np.arange(B)[None, :]
        if p.kind in ("cliff", "spike"):
            ext = info["ext"]
            tb = T - 1                                     # 0-based trough bar
            live = cols >= j0[:, None]
            if info["up"]:
                hi[rows] = np.where(live, np.minimum(hi[rows], (ext - 0.01)[:, None]), hi[rows])
                hi[rows, tb] = ext
            else:
                lo[rows] = np.where(live, np.maximum(lo[rows], (ext + 0.01)[:, None]), lo[rows])
                lo[rows, tb] = ext
        elif p.kind == "limit_down_lock":
            tb = T - 1
            pinned = cols > tb[:, None]
            for arr in (o, hi, lo, c):
                arr[rows] = np.where(pinned, info["ext"][:, None], arr[rows])
            lo[rows, tb] = info["ext"]
            c[rows, tb] = info["ext"]
    fix.info = info
    return fix


def _truth_for_day(day: _Day, fixes, mk_rows, symbols, beta, date, o, hi, lo, c) -> pd.DataFrame:
    B = c.shape[1]
    frames = []
    close = c[:, -1]

    def level_before(rows, j0):
        # the price just before the first moving bar: previous close, or the day's open at 09:31
        return np.where(j0 > 0, c[rows, np.maximum(j0 - 1, 0)], o[rows, 0])

    for f in fixes:
        i = f.info
        rows, j0, T = i["sel"], i["j0"], i["T"]
        pre = level_before(rows, j0)
        tb = T - 1
        if i["kind"] == "slow_bleed":
            ext = c[rows, tb]
        else:
            ext = i["ext"]
        move = ext - pre
        with np.errstate(invalid="ignore", divide="ignore"):
            recovery = np.where(move != 0, (close[rows] - ext) / (pre - ext), np.nan)
        sgn = 1.0 if i.get("up") else -1.0
        frames.append(pd.DataFrame({
            "symbol": symbols[rows], "kind": i["kind"], "day": date, "j0": j0, "jT": tb,
            "pre_move_level": pre, "extreme_price": ext, "depth": ext / pre - 1,
            "planted_depth": sgn * i["planted"], "depth_vs_prev_close": ext / day.pc[rows] - 1,
            "recovery": recovery, "planted_recovery": i["rec"], "duration_min": i["k"],
            "at_limit": i["at_limit"]}))
    for p, j0, k, dep, rec in mk_rows:
        rows = np.arange(len(symbols))
        pre = level_before(rows, np.full(len(rows), j0))
        window = lo[:, j0:min(j0 + k + 5, B)]
        jm = j0 + np.argmin(window, axis=1)
        ext = lo[rows, jm]
        with np.errstate(invalid="ignore", divide="ignore"):
            recovery = np.where(ext != pre, (close - ext) / (pre - ext), np.nan)
        frames.append(pd.DataFrame({
            "symbol": symbols, "kind": "market_wide_drop", "day": date, "j0": j0, "jT": jm,
            "pre_move_level": pre, "extreme_price": ext, "depth": ext / pre - 1,
            "planted_depth": -dep * beta, "depth_vs_prev_close": ext / day.pc - 1,
            "recovery": recovery, "planted_recovery": rec, "duration_min": k,
            "at_limit": ext <= day.lim_dn}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


_TRUTH_COLUMNS = ["symbol", "kind", "day", "onset", "trough", "pre_move_level", "extreme_price", "depth",
                  "planted_depth", "depth_vs_prev_close", "recovery", "planted_recovery", "duration_min",
                  "at_limit", "synthetic"]


def _finish_truth(t: pd.DataFrame | None, days, freq: str) -> pd.DataFrame:
    if t is None or t.empty:
        out = pd.DataFrame({c: [] for c in _TRUTH_COLUMNS})
        for c in ("day", "onset", "trough"):
            out[c] = pd.Series([], dtype=f"datetime64[ns, {TZ}]")
        return out
    s1 = _slot_table("1min")
    step = 5 if freq == "5min" else 1
    day0 = pd.DatetimeIndex(t["day"]).tz_localize(TZ)

    def stamp(j):
        j = np.asarray(j)
        minute = s1.end_minute[(j // step) * step + step - 1]
        return day0 + pd.to_timedelta(minute, unit="min")

    t = t.assign(onset=stamp(t["j0"]), trough=stamp(t["jT"]),
                 day=day0 + pd.Timedelta(hours=15), synthetic=True)
    t = t.sort_values(["day", "symbol", "kind"], kind="stable").reset_index(drop=True)
    return t[_TRUTH_COLUMNS]


def _utc_to_tz(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TZ)


def _assemble(out: dict, pcs: np.ndarray, symbols, days, float_shares, freq: str) -> pd.DataFrame:
    S, D, B = out["close"].shape
    if freq == "5min":
        g = {k: v.reshape(S, D, B // 5, 5) for k, v in out.items()}
        out = {"open": g["open"][..., 0], "high": g["high"].max(-1), "low": g["low"].min(-1),
               "close": g["close"][..., -1], "volume": g["volume"].sum(-1), "amount": g["amount"].sum(-1)}
        B = B // 5
    idx = cal.intraday_index(days, freq)
    ts = _utc_to_tz(np.tile(idx.asi8, S))
    vol = out["volume"].ravel()
    frame = pd.DataFrame({
        "symbol": pd.array(np.repeat(symbols, D * B).astype(str), dtype="str"),
        "ts": ts,
        "open": out["open"].ravel(), "high": out["high"].ravel(), "low": out["low"].ravel(),
        "close": out["close"].ravel(), "prev_close": np.repeat(pcs.ravel(), B),
        "volume": vol, "amount": out["amount"].ravel(),
        "turnover": vol / np.repeat(float_shares, D * B) * 100.0})
    return frame[BAR_COLUMNS]


# --- daily bars ---------------------------------------------------------------------------------


def simulate_daily(n_symbols: int = 300, n_days: int = 260, seed: int = 0, start="2023-01-03",
                   events: Sequence[Plant | dict] = (), index_id: str = "399001.SZ",
                   boards: dict[str, float] | None = None, daily_vol: tuple[float, float] = (0.012, 0.04),
                   tail_df: float = 5.0, symbols: Sequence[str] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded SYNTHETIC daily bars, a benchmark index and the truth of planted events.

    Returns ``(bars, index_bars, truth)``: canonical daily bars of the stocks, canonical daily bars of
    ``index_id`` (the market factor as an index level), and one truth row per planted symbol-day with
    ``symbol, kind, day, depth`` (signed, realised: low or close vs previous close, see below),
    ``planted_depth, recovery, planted_recovery, at_limit, synthetic``. Daily kinds: ``cliff`` (the
    day's low ``depth`` below the open, close recovering ``recovery`` of it), ``spike``, ``slow_bleed``
    (``duration`` days of drift), ``limit_down_lock``/``limit_up_lock`` (close at the limit),
    ``market_wide_drop`` (index and every stock through its beta) and ``volume_surge`` (volume ×
    ``depth``). Vectorised across symbols: 5,000 × 260 takes about a second.
    """
    meta = _universe(n_symbols, boards, symbols)
    n_symbols = len(meta)
    rng = np.random.default_rng(seed)
    days = _days(start, n_days)
    symbols = meta["symbol"].to_numpy(dtype=object)
    limit = meta["limit"].to_numpy(dtype=float)
    S, D = n_symbols, n_days
    growth = limit > 0.15
    price = _round2(np.clip(np.exp(rng.normal(math.log(12.0), 0.7, S)), 2.5, 250.0))
    dvol = np.exp(rng.uniform(math.log(daily_vol[0]), math.log(daily_vol[1]), S))
    dvol *= np.where(growth, 1.25, 1.0)
    beta = rng.uniform(0.5, 1.5, S)
    base_vol = np.exp(rng.normal(math.log(20_000 * 240), 0.8, S))
    float_shares = base_vol / 0.02
    plants = _resolve_plants(events, symbols, days, DAILY_KINDS)
    # market and vol-clustering paths for all days at once (only the limits need the day loop)
    h_m = lfilter([1.0], [1.0, -0.95], rng.normal(size=D) * 0.25 * math.sqrt(1 - 0.95 ** 2))
    m = 0.010 * np.exp(h_m) * _student(rng, tail_df, D) + 0.0002
    h_s = lfilter([1.0], [1.0, -0.95], rng.normal(size=(S, D)) * 0.3 * math.sqrt(1 - 0.95 ** 2), axis=1)
    sig = dvol[:, None] * np.exp(h_s)
    idio = np.sqrt(np.maximum(sig ** 2 - (beta[:, None] * 0.010) ** 2, (0.4 * sig) ** 2))
    eps = _student(rng, tail_df, (S, D))
    gap_e = rng.normal(size=(S, D))
    wick_h, wick_l = np.abs(rng.normal(size=(S, D))), np.abs(rng.normal(size=(S, D)))
    vol_e = rng.normal(size=(S, D))
    # planted events as per-(symbol, day) overrides
    code = {k: i + 1 for i, k in enumerate(DAILY_KINDS)}      # 0 = no event; ints keep the loop fast
    ev_kind = np.zeros((S, D), dtype=np.int8)
    ev_depth = np.zeros((S, D))
    ev_rec = np.zeros((S, D))
    for p in plants:
        dm = _day_mask(p, days)
        sm = _sym_mask(p, symbols)
        if p.kind == "market_wide_drop":
            for d in np.flatnonzero(dm):
                m[d] = math.log(1 - float(_draw(rng, p.depth, 1)[0]))
                ev_kind[:, d] = code["market_wide_drop"]
            continue
        hit = sm[:, None] & dm[None, :] & (rng.random((S, D)) < p.prob)
        si, di = np.nonzero(hit)
        dep = _draw(rng, p.depth, len(si)) if p.depth is not None else np.full(len(si), np.nan)
        rec = _draw(rng, p.recovery, len(si))
        if p.kind == "slow_bleed":
            k = max(int(p.duration), 1)
            for off in range(k):
                dd = np.minimum(di + off, D - 1)
                ev_kind[si, dd] = code["slow_bleed"]
                ev_depth[si, dd] = dep / k
        else:
            ev_kind[si, di] = code[p.kind]
            ev_depth[si, di] = dep
            ev_rec[si, di] = rec
    idx_close = np.empty(D)
    cols = {k: np.empty((S, D)) for k in ("open", "high", "low", "close", "prev_close", "volume")}
    truth: list[tuple] = []
    pc = price.copy()
    level = 1000.0
    idx_rows = []
    for d in range(D):
        lim_dn, lim_up = limit_prices(pc, limit)
        r = beta * m[d] + idio[:, d] * eps[:, d]
        op = pc * np.exp(0.4 * sig[:, d] * gap_e[:, d] + beta * m[d] * 0.3)
        kind = ev_kind[:, d]
        with np.errstate(invalid="ignore", divide="ignore"):   # other kinds' depths (a 6× surge) are not used here
            r = np.where(kind == code["slow_bleed"], r + np.log(1 - ev_depth[:, d]), r)
        cl = pc * np.exp(r)
        hi = np.maximum(op, cl) * np.exp(0.5 * sig[:, d] * wick_h[:, d])
        lo = np.minimum(op, cl) * np.exp(-0.5 * sig[:, d] * wick_l[:, d])
        cliff, spike = kind == code["cliff"], kind == code["spike"]
        lo = np.where(cliff, op * (1 - ev_depth[:, d]), lo)
        cl = np.where(cliff, lo + ev_rec[:, d] * (op - lo), cl)
        hi = np.where(spike, op * (1 + ev_depth[:, d]), hi)
        cl = np.where(spike, hi - ev_rec[:, d] * (hi - op), cl)
        dn_lock, up_lock = kind == code["limit_down_lock"], kind == code["limit_up_lock"]
        cl = np.where(dn_lock, lim_dn, np.where(up_lock, lim_up, cl))
        op, cl = (np.clip(_round2(a), lim_dn, lim_up) for a in (op, cl))
        hi = np.clip(_round2(np.maximum(hi, np.maximum(op, cl))), lim_dn, lim_up)
        lo = np.clip(_round2(np.minimum(lo, np.minimum(op, cl))), lim_dn, lim_up)
        lo = np.where(dn_lock, lim_dn, lo)
        hi = np.where(up_lock, lim_up, hi)
        vol = base_vol * np.exp(0.35 * vol_e[:, d]) * (1 + 3 * np.abs(np.log(cl / pc)) / sig[:, d])
        vol = np.where(kind == code["volume_surge"], vol * ev_depth[:, d], vol)
        vol = np.where(dn_lock | up_lock, vol * 0.3, vol)
        vol = np.floor(vol / 100) * 100
        for k_, a in (("open", op), ("high", hi), ("low", lo), ("close", cl), ("prev_close", pc),
                      ("volume", vol)):
            cols[k_][:, d] = a
        ev = np.flatnonzero(kind)
        if len(ev):
            kd = kind[ev]
            intraday = (kd == code["cliff"]) | (kd == code["spike"])
            is_down = np.isin(kd, [code[k] for k in ("cliff", "limit_down_lock", "market_wide_drop",
                                                     "slow_bleed")])
            ext = np.where(kd == code["cliff"], lo[ev], np.where(kd == code["spike"], hi[ev], cl[ev]))
            ref = np.where(intraday, op[ev], pc[ev])
            with np.errstate(invalid="ignore", divide="ignore"):
                recov = np.where(intraday, (cl[ev] - ext) / (ref - ext), np.nan)
            planted = np.where(kd == code["market_wide_drop"], -beta[ev] * (1 - np.exp(m[d])),
                               np.where(is_down, -1, 1) * ev_depth[ev, d])
            truth.append((ev, kd, np.full(len(ev), d), ext / pc[ev] - 1, ext / op[ev] - 1, planted,
                          recov, ev_rec[ev, d], (np.minimum(cl[ev], ext) <= lim_dn[ev])
                          | (np.maximum(cl[ev], ext) >= lim_up[ev])))
        prev_level = level
        level = level * math.exp(m[d])
        io = prev_level * math.exp(0.3 * m[d])
        idx_rows.append((io, max(io, level) * math.exp(0.004 * abs(rng.normal())),
                         min(io, level) * math.exp(-0.004 * abs(rng.normal())), level, prev_level,
                         float(cols["volume"][:, d].sum()), float((cols["volume"][:, d] * cl).sum())))
        idx_close[d] = level
        pc = cl
    ts = cal.daily_ts(days)
    amount = cols["volume"] * (cols["open"] + cols["high"] + cols["low"] + cols["close"]) / 4
    bars = pd.DataFrame({
        "symbol": pd.array(np.repeat(symbols, D).astype(str), dtype="str"),
        "ts": _utc_to_tz(np.tile(ts.asi8, S)),
        "open": cols["open"].ravel(), "high": cols["high"].ravel(), "low": cols["low"].ravel(),
        "close": cols["close"].ravel(), "prev_close": cols["prev_close"].ravel(),
        "volume": cols["volume"].ravel(), "amount": np.round(amount.ravel(), 2),
        "turnover": (cols["volume"] / float_shares[:, None] * 100).ravel()})[BAR_COLUMNS]
    ir = np.array(idx_rows)
    index_bars = pd.DataFrame({
        "symbol": pd.array([index_id] * D, dtype="str"), "ts": ts,
        "open": np.round(ir[:, 0], 4), "high": np.round(ir[:, 1], 4), "low": np.round(ir[:, 2], 4),
        "close": np.round(ir[:, 3], 4), "prev_close": np.round(ir[:, 4], 4), "volume": ir[:, 5],
        "amount": ir[:, 6], "turnover": np.nan})[BAR_COLUMNS]
    index_bars["high"] = index_bars[["open", "high", "close"]].max(axis=1)
    index_bars["low"] = index_bars[["open", "low", "close"]].min(axis=1)
    if truth:
        parts = [np.concatenate(x) for x in zip(*truth)]
        names = np.array(DAILY_KINDS, dtype=object)
        t = pd.DataFrame({
            "symbol": symbols[parts[0]].astype(str), "kind": names[parts[1].astype(int) - 1],
            "day": ts[parts[2]], "depth": parts[3], "depth_vs_open": parts[4], "planted_depth": parts[5],
            "recovery": parts[6], "planted_recovery": parts[7], "at_limit": parts[8].astype(bool),
            "synthetic": True})
        t = t.sort_values(["day", "symbol", "kind"], kind="stable").reset_index(drop=True)
    else:
        t = pd.DataFrame(columns=["symbol", "kind", "day", "depth", "depth_vs_open", "planted_depth",
                                  "recovery", "planted_recovery", "at_limit", "synthetic"])
    for f in (bars, index_bars, t):
        f.attrs.update(synthetic=True, generator="anomaly.simulate.simulate_daily", seed=seed)
    return bars, index_bars, t
