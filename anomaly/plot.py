"""Event plots: one PNG per event that tells its story at a glance.

Layout (12 in wide, 8 in tall — a little taller when the news lane needs more rows; PNG at 120 dpi):

* **price** (top left) on a *trading-time* axis: x is a bar ordinal, so lunch breaks, nights,
  weekends and holidays take no space. With intraday bars x is the trading minute of the day
  (09:30 → 0, 11:30 = 13:00 → 120, 15:00 → 240; ``calendar.minute_of_session``) and the price is a
  分时 line with its volume-weighted average; otherwise daily candles, ``before``/``after`` trading
  days around the event. Reference lines: previous close, 涨停 / 跌停 limit prices from
  ``rules.limit_pct``/``rules.limit_price`` for the symbol's board; the anomaly is shaded (the event
  day's candle, or onset → trough intraday); low and close are annotated in % vs the previous
  close (the high instead of the low for an upward anomaly). Red = up, green = down (A-share
  convention) for candles and volume.
* **news lane** under the price: one swim-lane per role (前兆 precursor, 同期 concurrent, 回应
  response, 澄清 clarification); each linked news item is a numbered badge at its time (circle =
  exact minute/second, square = ``session``/``day`` precision placed at the start of its segment
  with a hatched span over the time it may have appeared). Items of one role at one spot are
  merged into one badge ("3–5"); on the daily axis that spot is the day. Items after the close
  (or outside the plotted days) sit in a grey gutter that is *not* to scale. Numbers are
  chronological (``news_order``) and match the report's news table.
* **volume** panel, sharing the x axis.
* **context** (bottom left): stock and benchmark closes normalised to 100, and the cumulative
  abnormal return path over the event window (market model with ``event_study.estimation`` alpha
  and beta; market-adjusted when no estimate is given).
* **right column**: the numbered news list (time, role, source kind, short title) and key figures.

Untrusted text (titles, sources, names) is made inert: control/format characters are removed,
mathtext parsing and TeX are switched off per artist, and glyphs no available font can draw are
replaced, so a title can neither inject markup nor produce tofu boxes. Figures are built with
``matplotlib.figure.Figure`` and the Agg canvas directly: no pyplot state, no ``matplotlib.use``,
no ``rcParams`` writes (fonts are passed per artist, see ``anomaly.fonts``).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .output import finite_or_none, p_text, shanghai_ts
from . import fonts
from .errors import BadInput
# news_order, clean_text, text_width and truncate stay importable from here (part of this API)
from .plotnews import (_Badge, _Item, _badges, _news_items, _pack, _place_daily, _place_intraday,  # noqa: F401
                       _role_label, _time_label, news_order)
from .plotstyle import (BADGE_PT, CONTEXT_BEFORE, DEFAULT_WINDOW, DOWN, DPI,  # noqa: F401
                        EXPLANATION_WIDTH, FIGSIZE, FLAT, MAX_INTRADAY_DAYS, OTHER_ROLE, ROLE_COLORS, ROLE_ZH,
                        SHADE, TITLE_CHARS, UP, _inert, _num, _pct, _Style, _style, _text, clean_text, text_width,
                        truncate, wrap)
from .schema import TZ

_fnum = finite_or_none
_ts = shanghai_ts



# --- inputs ----------------------------------------------------------------------------------------


def _daily(bars: pd.DataFrame | None, symbol: str | None) -> pd.DataFrame:
    """Daily bars of one symbol with a naive ``day`` column (accepts canonical ``ts`` or ``date``)."""
    cols = ["day", "open", "high", "low", "close", "prev_close", "volume", "amount"]
    if bars is None or len(bars) == 0:
        return pd.DataFrame(columns=cols)
    df = bars
    if symbol is not None and "symbol" in df.columns:
        sel = df["symbol"].astype(str) == str(symbol)
        if sel.any() or df["symbol"].nunique() > 1:
            df = df[sel]
    df = df.copy()
    if "ts" in df.columns:
        t = pd.to_datetime(df["ts"])
        if t.dt.tz is not None:
            t = t.dt.tz_convert(TZ).dt.tz_localize(None)
        df["day"] = t.dt.normalize()
    elif "date" in df.columns:
        df["day"] = pd.to_datetime(df["date"]).dt.normalize()
    else:
        raise BadInput("bars: need a 'ts' (or 'date') column")
    for c in cols[1:]:
        df[c] = pd.to_numeric(df[c], errors="coerce") if c in df.columns else np.nan
    df = df.dropna(subset=["close"]).sort_values("day").drop_duplicates("day", keep="last")
    if df["prev_close"].isna().any():
        df["prev_close"] = df["prev_close"].fillna(df["close"].shift(1))
    return df[cols].reset_index(drop=True)


def _intraday(bars: pd.DataFrame | None, symbol: str, day: pd.Timestamp) -> pd.DataFrame | None:
    """Intraday bars of the symbol with an ordinal ``x`` (trading minutes; 240 per plotted day)."""
    if bars is None or len(bars) == 0:
        return None
    df = bars
    if "symbol" in df.columns:
        sel = df["symbol"].astype(str) == str(symbol)
        if sel.any():
            df = df[sel]
    ts = pd.to_datetime(df["ts"])
    ts = ts.dt.tz_localize(TZ) if ts.dt.tz is None else ts.dt.tz_convert(TZ)
    df = df.assign(ts=ts).sort_values("ts")
    local_day = df["ts"].dt.tz_localize(None).dt.normalize()
    all_days = pd.Index(sorted(local_day.unique()))
    if len(all_days) > MAX_INTRADAY_DAYS:  # keep the days around the event
        k = int(min(np.searchsorted(all_days, day), len(all_days) - 1))
        lo = max(0, min(k - MAX_INTRADAY_DAYS // 2, len(all_days) - MAX_INTRADAY_DAYS))
        keep = local_day.isin(all_days[lo:lo + MAX_INTRADAY_DAYS])
        df, local_day = df[keep], local_day[keep]
    if df.empty:
        return None
    from .calendar import minute_of_session

    m = minute_of_session(df["ts"]).clip(lower=0)
    days = pd.Index(sorted(local_day.unique()))
    k = local_day.map({d: i for i, d in enumerate(days)}).astype(float)
    out = df.assign(x=(m + 240 * k).to_numpy(), day=local_day.to_numpy()).dropna(subset=["x", "close"])
    for c in ("open", "high", "low", "close", "prev_close", "volume", "amount"):
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out.columns else np.nan
    return out.reset_index(drop=True)


def _benchmark_id(event: Mapping, symbol_info) -> str | None:
    es = event.get("event_study") or {}
    if es.get("benchmark"):
        return str(es["benchmark"])
    if symbol_info is None:
        return None
    from .rules import DEFAULT_BENCHMARKS

    return DEFAULT_BENCHMARKS.get((symbol_info.exchange, symbol_info.board))


def _pick_index(index_bars: pd.DataFrame | None, bench: str | None) -> tuple[pd.DataFrame, str | None]:
    if index_bars is None or len(index_bars) == 0:
        return _daily(None, None), None
    if "symbol" in index_bars.columns:
        syms = list(pd.unique(index_bars["symbol"].astype(str)))
        if bench and bench in syms:
            return _daily(index_bars, bench), bench
        if bench:
            from .rules import BENCHMARK_FALLBACKS

            fb = BENCHMARK_FALLBACKS.get(bench)
            if fb in syms:
                return _daily(index_bars, fb), fb
        if len(syms) == 1:
            return _daily(index_bars, syms[0]), syms[0]
        return _daily(None, None), None
    return _daily(index_bars, None), bench


def _resolve(symbol: str):
    from .symbols import resolve

    try:
        return resolve(symbol)
    except Exception:  # unknown code: plot without board/limit information
        return None


def _limits(info, prev_close: float | None, day: pd.Timestamp) -> tuple[float | None, float | None, float | None]:
    if info is None or info.is_index or prev_close is None:
        return None, None, None
    from .rules import limit_pct, limit_price

    pct = limit_pct(info.board, day.date(), info.is_st)
    if pct is None:
        return None, None, None
    return pct, limit_price(prev_close, pct, True), limit_price(prev_close, pct, False)


# --- panels ----------------------------------------------------------------------------------------


def _candles(ax, d: pd.DataFrame, x: np.ndarray) -> None:
    up = (d["close"] >= d["open"]).to_numpy()
    colors = np.where(up, UP, DOWN)
    ax.vlines(x, d["low"], d["high"], colors=colors, linewidth=0.9, zorder=2)
    body_lo = np.minimum(d["open"], d["close"]).to_numpy()
    body_h = np.abs(d["close"] - d["open"]).to_numpy()
    rng = float(np.nanmax(d["high"]) - np.nanmin(d["low"])) if len(d) else 1.0
    body_h = np.maximum(body_h, rng * 0.004)
    ax.bar(x, body_h, bottom=body_lo, width=0.62, color=np.where(up, "white", DOWN),
           edgecolor=colors, linewidth=0.9, zorder=3)


def _ref_line(ax, y: float, text: str, color: str, st: _Style, style="--", va="bottom") -> None:
    ax.axhline(y, color=color, linestyle=style, linewidth=0.9, alpha=0.85, zorder=1)
    _text(ax, 0.005, y, text, st, size=7.5, color=color, va=va, ha="left",
          transform=ax.get_yaxis_transform(), zorder=6,
          bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.8))


def _annotate(ax, x, y, text, st: _Style, dx: float, dy: float, color: str) -> None:
    a = ax.annotate(text, xy=(x, y), xytext=(dx, dy), textcoords="offset points",
                    fontproperties=st.fp(8.0, "bold"), color=color, ha="left" if dx >= 0 else "right",
                    va="center", zorder=8,
                    arrowprops=dict(arrowstyle="-", color=color, lw=0.8, shrinkA=0, shrinkB=2),
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=color, lw=0.6, alpha=0.92))
    _inert(a)


def _ylim_with(ax, lo: float, hi: float, extra: Sequence[float | None], pad=0.06) -> None:
    vals = [v for v in [lo, hi, *extra] if v is not None and np.isfinite(v)]
    a, b = min(vals), max(vals)
    span = (b - a) or abs(b) * 0.02 or 1.0
    ax.set_ylim(a - span * pad, b + span * pad)


def _volume_formatter():
    from matplotlib.ticker import FuncFormatter

    def f(v, _pos):
        if v >= 1e6:
            return f"{v / 1e6:.0f}M" if v >= 1e7 else f"{v / 1e6:.1f}M"
        if v >= 1e3:
            return f"{v / 1e3:.0f}k"
        return f"{v:.0f}"
    return FuncFormatter(f)


def _daily_ticks(days: pd.DatetimeIndex, event_k: int | None, n_target: int = 8) -> tuple[list[int], list[str]]:
    n = len(days)
    if n == 0:
        return [], []
    step = max(1, int(round(n / n_target)))
    pos = set(range(0, n, step))
    if event_k is not None:
        pos = {p for p in pos if abs(p - event_k) >= max(2, step // 2)} | {event_k}
    pos = sorted(pos)
    labels, prev_year = [], None
    for p in pos:
        d = days[p]
        labels.append(d.strftime("%Y-%m-%d") if d.year != prev_year else d.strftime("%m-%d"))
        prev_year = d.year
    return pos, labels


def _intraday_ticks(n_days: int, days: Sequence[pd.Timestamp]) -> tuple[list[float], list[str]]:
    if n_days == 1:
        offs = [(0, "09:30"), (30, "10:00"), (60, "10:30"), (90, "11:00"), (120, "11:30|13:00"),
                (150, "13:30"), (180, "14:00"), (210, "14:30"), (240, "15:00")]
        return [o for o, _ in offs], [s for _, s in offs]
    pos, lab = [], []
    for k, d in enumerate(days):
        pos += [240 * k, 240 * k + 120]
        lab += [pd.Timestamp(d).strftime("%m-%d") + " 09:30", "13:00"]
    pos.append(240 * n_days)
    lab.append("15:00")
    return pos, lab


def _parse_window(w: str) -> tuple[int, int] | None:
    try:
        a, b = str(w).strip().strip("[]()").split(",")
        return int(a), int(b)
    except (ValueError, TypeError):
        return None


def _car_path(daily: pd.DataFrame, index: pd.DataFrame, k0: int, lo: int, hi: int,
              alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative abnormal return from day k0+lo to k0+hi (relative day numbers and CAR)."""
    m = daily[["day", "close", "prev_close"]].merge(index[["day", "close", "prev_close"]], on="day",
                                                    suffixes=("", "_m"))
    m = m.set_index("day")
    ri = m["close"] / m["prev_close"] - 1
    rm = m["close_m"] / m["prev_close_m"] - 1
    ar = (ri - (alpha + beta * rm)).reindex(daily["day"])
    rel, car, acc = [], [], 0.0
    for j in range(lo, hi + 1):
        k = k0 + j
        if k < 0 or k >= len(daily):
            continue
        v = ar.iloc[k]
        if not np.isfinite(v):
            continue
        if not rel:
            rel.append(j - 1)
            car.append(0.0)
        acc += float(v)
        rel.append(j)
        car.append(acc)
    return np.array(rel, dtype=float), np.array(car)


# --- the figure ------------------------------------------------------------------------------------


@dataclass
class _Geometry:
    """Panel rectangles in inches (so the lane can grow by rows without squeezing the rest)."""
    width: float = FIGSIZE[0]
    left: float = 0.72        # room for y labels
    left_w: float = 7.55      # width of the left (time-axis) panels
    right_x: float = 8.98     # start of the news / figures column
    top: float = 0.92         # title + explanation
    bottom: float = 0.42
    price: float = 2.95
    volume: float = 0.92
    context: float = 1.62
    gap: float = 0.06
    gap_ctx: float = 0.62     # tick labels + context title
    lane: float = 0.5
    height: float = FIGSIZE[1]

    def set_lane(self, rows: int) -> None:
        self.lane = 0.2 + 0.15 * rows
        need = (self.top + self.price + self.gap + self.lane + self.gap + self.volume + self.gap_ctx
                + self.context + self.bottom)
        # Keep 8 in when the lane is small: the price panel absorbs the slack.
        if need < FIGSIZE[1]:
            self.price += FIGSIZE[1] - need
            need = FIGSIZE[1]
        self.height = need

    def fx(self, x: float) -> float:
        return x / self.width

    def fy(self, y: float) -> float:
        return y / self.height

    def rect(self, name: str) -> list[float]:
        y_ctx = self.bottom
        y_vol = y_ctx + self.context + self.gap_ctx
        y_lane = y_vol + self.volume + self.gap
        y_price = y_lane + self.lane + self.gap
        if name == "right":
            h = self.height - self.top - self.bottom - 0.05
            return [self.fx(self.right_x), self.fy(self.bottom), self.fx(self.width - 0.12 - self.right_x),
                    self.fy(h)]
        y, h = {"price": (y_price, self.price), "lane": (y_lane, self.lane),
                "volume": (y_vol, self.volume), "context": (y_ctx, self.context)}[name]
        return [self.fx(self.left), self.fy(y), self.fx(self.left_w), self.fy(h)]


def plot_event(event: Mapping, bars: pd.DataFrame | None, index_bars: pd.DataFrame | None = None,
               intraday: pd.DataFrame | None = None, out: str | os.PathLike | None = None,
               daily_context: int | tuple[int, int] | None = None, *, note: str | None = None,
               cjk: bool | None = None, dpi: int = DPI):
    """Draw one event and return the ``matplotlib.figure.Figure`` (saved as PNG when ``out`` is given).

    ``event``        an event dict (docs/architecture.md); needs ``symbol`` and ``date``.
    ``bars``         canonical daily bars (``ts``; a ``date`` column also works), any symbols —
                     the event's symbol is selected.
    ``index_bars``   daily bars of benchmark indices; the one named by ``event_study.benchmark``
                     (else the board default, ``rules.DEFAULT_BENCHMARKS``) is used.
    ``intraday``     minute bars (bar-end ``ts``) of the symbol; when given the price panel is the
                     intraday 分时 view (every day given, at most 5 around the event, 240 minutes
                     each with no lunch or overnight gap).
    ``daily_context`` trading days shown around the event on the daily axis: ``before`` or
                     ``(before, after)``; default ``(30, 10)``.
    ``note``         extra text for the title (e.g. ``"SYNTHETIC intraday bars"``).
    ``cjk``          ``False`` draws the ASCII fallback on purpose (no warning); ``None`` = auto:
                     a CJK font if one is installed and ``ANOMALY_NO_CJK_FONT`` is unset, else the
                     fallback with one ``fonts.CJKFontMissing`` warning per process.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(event, Mapping) or not event.get("symbol") or not event.get("date"):
        raise BadInput("event: need a dict with 'symbol' and 'date'")
    st = _style(cjk)
    symbol = str(event["symbol"])
    day = pd.Timestamp(str(event["date"])).normalize()
    info = _resolve(symbol)
    before, after = DEFAULT_WINDOW
    if isinstance(daily_context, (int, np.integer)):
        before = int(daily_context)
    elif isinstance(daily_context, (tuple, list)) and len(daily_context) == 2:
        before, after = int(daily_context[0]), int(daily_context[1])

    full = _daily(bars, symbol)
    ibars = _intraday(intraday, symbol, day) if intraday is not None else None
    if full.empty and ibars is None:
        raise BadInput(f"no bars for {symbol} to plot the {day.date()} event")
    ev_rows = full.index[full["day"] == day]
    k_ev = int(ev_rows[0]) if len(ev_rows) else None
    evbar = full.loc[k_ev] if k_ev is not None else None

    # Event-day reference figures (from daily bars, else from intraday bars).
    prev_close = _fnum(evbar["prev_close"]) if evbar is not None else None
    if prev_close is None and ibars is not None and "prev_close" in ibars:
        prev_close = _fnum(ibars["prev_close"].dropna().iloc[0]) if ibars["prev_close"].notna().any() else None
    if ibars is not None:
        d_low, d_high = float(ibars["low"].min()), float(ibars["high"].max())
        d_close = float(ibars["close"].iloc[-1])
    elif evbar is not None:
        d_low, d_high, d_close = float(evbar["low"]), float(evbar["high"]), float(evbar["close"])
    else:
        d_low = d_high = d_close = None
    pct, lim_up, lim_dn = _limits(info, prev_close, day)

    items, extra_news = _news_items(event)

    # x placement first (gutters change the axis extent), then the lane height in rows.
    if ibars is not None:
        step = float(np.median(np.diff(np.sort(ibars["x"].unique())))) if len(ibars) > 1 else 1.0
        gl, gr = _place_intraday(items, ibars, step)
        n_days = len(pd.unique(ibars["day"]))
        x_lo, x_hi = -gl - 2, 240 * n_days + gr + 2
    else:
        lo_k = max(0, (k_ev if k_ev is not None else len(full) - 1) - before)
        hi_k = min(len(full) - 1, (k_ev if k_ev is not None else len(full) - 1) + after)
        win = full.iloc[lo_k:hi_k + 1].reset_index(drop=True)
        wdays = pd.DatetimeIndex(win["day"])
        k_win = int(np.flatnonzero(wdays == day)[0]) if (wdays == day).any() else None
        gl, gr = _place_daily(items, wdays)
        x_lo, x_hi = -0.7 - gl, len(win) - 0.3 + gr
    geo = _Geometry()
    verdict = clean_text(event.get("verdict") or "", 24)
    expl_lines = wrap(st.safe(event.get("explanation") or "", None,
                              fallback=f"{symbol} {verdict} event (explanation in Chinese; no CJK font)"),
                      EXPLANATION_WIDTH, 2)
    geo.top += 0.2 * max(0, len(expl_lines) - 1)
    badges = _badges(items, ibars is None, (x_hi - x_lo) / geo.left_w)
    if badges:  # room for the badges' width at both ends
        x_lo = min(x_lo, min(b.x - b.half_w * 1.3 for b in badges))
        x_hi = max(x_hi, max(b.x + b.half_w * 1.3 for b in badges))
    n_rows, lanes = _pack(badges)
    geo.set_lane(n_rows)

    fig = Figure(figsize=(geo.width, geo.height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax_p = fig.add_axes(geo.rect("price"))
    ax_n = fig.add_axes(geo.rect("lane"), sharex=ax_p)
    ax_v = fig.add_axes(geo.rect("volume"), sharex=ax_p)
    ax_c = fig.add_axes(geo.rect("context"))
    ax_r = fig.add_axes(geo.rect("right"))
    ax_r.set_axis_off()
    for ax in (ax_p, ax_n, ax_v, ax_c):
        ax.tick_params(labelsize=8, labelfontfamily=st.families)
        ax.grid(True, color="#e6e6e6", linewidth=0.6, zorder=0)
        ax.set_axisbelow(True)

    name = clean_text(event.get("name") or (info.name if info else ""))
    name_s = st.safe(name, 20, fallback="", min_letters=3)

    # ---------------- price + volume ----------------
    if ibars is not None:
        x = ibars["x"].to_numpy(dtype=float)
        close = ibars["close"].to_numpy(dtype=float)
        first_open = _fnum(ibars["open"].iloc[0]) or close[0]
        xs = np.concatenate([[x[0] - step], x])
        cs = np.concatenate([[first_open], close])
        ref = prev_close if prev_close is not None else first_open
        ax_p.fill_between(xs, cs, ref, where=cs >= ref, color=UP, alpha=0.10, interpolate=True, lw=0)
        ax_p.fill_between(xs, cs, ref, where=cs < ref, color=DOWN, alpha=0.12, interpolate=True, lw=0)
        ax_p.vlines(x, ibars["low"], ibars["high"], color="#9aa5b1", lw=0.6, alpha=0.7, zorder=2)
        ax_p.plot(xs, cs, color="#1b2a41", lw=1.1, zorder=4, label=st.t("价格", "price"))
        vol = ibars["volume"].to_numpy(dtype=float)
        amt = ibars["amount"].to_numpy(dtype=float)
        if np.isfinite(amt).any() and np.nansum(vol) > 0:
            vwap = np.nancumsum(amt) / np.maximum(np.nancumsum(vol), 1)
            ok = np.isfinite(vwap) & (vwap > 0.5 * np.nanmin(close)) & (vwap < 2 * np.nanmax(close))
            if ok.sum() > 1:
                ax_p.plot(x[ok], vwap[ok], color="#e6a700", lw=0.9, ls="-", zorder=3,
                          label=st.t("均价", "VWAP"))
        chg = np.diff(np.concatenate([[first_open], close]))
        vcol = np.where(chg > 0, UP, np.where(chg < 0, DOWN, FLAT))
        ax_v.bar(x, np.nan_to_num(vol), width=step * 0.8, color=vcol, linewidth=0)
        # anomaly: onset → trough
        onset, trough_x = _intraday_span(event, ibars, step)
        if onset is not None:
            ax_p.axvspan(onset, trough_x, color=SHADE, alpha=0.35, lw=0, zorder=1)
            ax_v.axvspan(onset, trough_x, color=SHADE, alpha=0.35, lw=0, zorder=0)
        up_move = (_fnum((event.get("anomaly") or {}).get("magnitude")) or -1.0) > 0
        i_ext = int(np.nanargmax(ibars["high"].to_numpy()) if up_move else np.nanargmin(ibars["low"].to_numpy()))
        d_ext = d_high if up_move else d_low
        t_ext = ibars["ts"].iloc[i_ext].strftime("%H:%M")
        _ylim_with(ax_p, d_low, d_high, [prev_close, lim_up, lim_dn], pad=0.05)
        ax_p.set_xlim(x_lo, x_hi)
        ticks, tlabels = _intraday_ticks(n_days, sorted(pd.unique(ibars["day"])))
        ext_txt = (f"{st.t('最高', 'high') if up_move else st.t('最低', 'low')} {_num(d_ext)} "
                   f"({_pct(d_ext / prev_close - 1 if prev_close else None)}) {t_ext}")
        close_txt = f"{st.t('收盘', 'close')} {_num(d_close)} ({_pct(d_close / prev_close - 1 if prev_close else None)})"
        _annotate(ax_p, x[i_ext], d_ext, ext_txt, st, 28, 4 if up_move else -4,
                  DOWN if d_ext < (prev_close or d_ext) else UP)
        _annotate(ax_p, x[-1], d_close, close_txt, st, -34, -16 if up_move else 16,
                  DOWN if d_close < (prev_close or d_close) else UP)
        if onset is not None:
            _text(ax_p, trough_x + 2, 0.90, st.t("异动 onset→trough", "anomaly onset→trough"), st,
                  size=7.5, color="#8a6d00", ha="left", va="center", transform=ax_p.get_xaxis_transform(),
                  bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
        for it in items:
            if it.precision in ("minute", "second") and not it.gutter:
                for ax in (ax_p, ax_v):
                    ax.axvline(it.x, color=ROLE_COLORS.get(it.role, OTHER_ROLE), lw=0.8, ls=":",
                               alpha=0.9, zorder=2)
        leg = ax_p.legend(loc="best", prop=st.fp(7.5), frameon=True, framealpha=0.85, edgecolor="none", ncol=2)
        for t_ in leg.get_texts():
            _inert(t_)
    else:
        x = np.arange(len(win), dtype=float)
        _candles(ax_p, win, x)
        up = (win["close"] >= win["open"]).to_numpy()
        ax_v.bar(x, win["volume"].fillna(0), width=0.62, color=np.where(up, UP, DOWN), linewidth=0)
        if k_win is not None:
            for ax in (ax_p, ax_v):
                ax.axvspan(k_win - 0.5, k_win + 0.5, color=SHADE, alpha=0.35, lw=0, zorder=0)
            if prev_close:
                up_move = (_fnum((event.get("anomaly") or {}).get("magnitude")) or -1.0) > 0
                d_ext = d_high if up_move else d_low
                ext_txt = (f"{st.t('最高', 'high') if up_move else st.t('最低', 'low')} {_num(d_ext)} "
                           f"({_pct(d_ext / prev_close - 1)})")
                close_txt = f"{st.t('收盘', 'close')} {_num(d_close)} ({_pct(d_close / prev_close - 1)})"
                side = 1 if k_win < len(win) - 4 else -1
                sgn = 1 if up_move else -1   # extreme label away from the body, close label the other way
                _annotate(ax_p, k_win, d_ext, ext_txt, st, side * 26, sgn * 9,
                          DOWN if d_ext < prev_close else UP)
                _annotate(ax_p, k_win + 0.31 * side, d_close, close_txt, st, side * 26, -sgn * 11,
                          DOWN if d_close < prev_close else UP)
            if k_win > 0 and np.isfinite(win["volume"].iloc[k_win - 1]) and win["volume"].iloc[k_win - 1] > 0:
                ratio = win["volume"].iloc[k_win] / win["volume"].iloc[k_win - 1]
                _text(ax_v, k_win, win["volume"].iloc[k_win], f"{ratio:.2f}× {st.t('前日', 'prev day')}",
                      st, size=7.5, va="bottom", ha="center", color="#444444",
                      bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.75))
        ax_v.set_ylim(0, float(np.nanmax(win["volume"])) * 1.3)
        lo_all = float(win["low"].min())
        hi_all = float(win["high"].max())
        _ylim_with(ax_p, lo_all, hi_all, [prev_close, lim_up, lim_dn], pad=0.05)
        ax_p.set_xlim(x_lo, x_hi)
        ticks, tlabels = _daily_ticks(wdays, k_win)

    # reference lines
    if prev_close:
        _ref_line(ax_p, prev_close, f"{st.t('昨收', 'prev close')} {_num(prev_close)}", "#555555", st, ":")
    if lim_up is not None:
        _ref_line(ax_p, lim_up, f"{st.t('涨停', 'limit up')} {_num(lim_up)} (+{pct * 100:.0f}%)", UP, st, "--",
                  va="top")
        _ref_line(ax_p, lim_dn, f"{st.t('跌停', 'limit down')} {_num(lim_dn)} (−{pct * 100:.0f}%)", DOWN, st,
                  "--", va="bottom")
    if prev_close:
        sec = ax_p.secondary_yaxis("right", functions=(lambda p: (p / prev_close - 1) * 100,
                                                       lambda r: prev_close * (1 + r / 100)))
        sec.tick_params(labelsize=7.5, labelfontfamily=st.families, colors="#555555")
        from matplotlib.ticker import FuncFormatter

        sec.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _pct_tick(v)))
    ax_p.set_ylabel(st.t("价格（元）", "price (CNY)"), fontproperties=st.fp(8.5))
    ax_v.set_ylabel(st.t("成交量（股）", "volume (sh)"), fontproperties=st.fp(8.5))
    ax_v.yaxis.set_major_formatter(_volume_formatter())
    ax_v.set_xticks(ticks)
    ax_v.set_xticklabels(tlabels)
    for lab in ax_v.get_xticklabels():
        _inert(lab)
        if ibars is None and k_ev is not None and lab.get_text() in (day.strftime("%m-%d"), day.strftime("%Y-%m-%d")):
            lab.set_fontweight("bold")
    for ax in (ax_p, ax_n):
        ax.tick_params(labelbottom=False)

    # ---------------- news lane ----------------
    _news_lane(ax_n, badges, lanes, n_rows, st, gl, gr, x_lo, x_hi,
               (240 * n_days if ibars is not None else len(win) - 0.5),
               -0.5 if ibars is None else 0.0)
    x_left = -0.5 if ibars is None else 0.0
    x_right = 240 * n_days if ibars is not None else len(win) - 0.5
    for ax in (ax_p, ax_v):
        if gl:
            ax.axvspan(x_lo, x_left - 0.5, color="#f2f2f2", lw=0, zorder=0)
        if gr:
            ax.axvspan(x_right + 0.5, x_hi, color="#f2f2f2", lw=0, zorder=0)
    if gl:
        _text(ax_p, (x_lo + x_left) / 2, 0.3, st.t("之前\n（不按比例）", "before\n(not to scale)"), st,
              size=7, color="#777777", ha="center", va="center", transform=ax_p.get_xaxis_transform())
    if gr:
        _text(ax_p, (x_right + x_hi) / 2, 0.3, st.t("盘后 / 之后 →\n（不按比例）", "after close →\n(not to scale)"),
              st, size=7, color="#777777", ha="center", va="center", transform=ax_p.get_xaxis_transform())

    # ---------------- context ----------------
    idx, bench = _pick_index(index_bars, _benchmark_id(event, info))
    _context(ax_c, event, full, idx, bench, day, k_ev, st, f"{name_s} {symbol}" if name_s else symbol)

    # ---------------- right column ----------------
    _right_column(ax_r, fig, event, items, extra_news, day, st, full, idx, k_ev, prev_close,
                  d_low, d_close, bench)

    # ---------------- title ----------------
    a = event.get("anomaly") or {}
    mag = _fnum(a.get("magnitude"))
    ref = clean_text(a.get("reference") or "", 24)
    parts = [f"{name_s} {symbol}".strip(), day.strftime("%Y-%m-%d")]
    if verdict:
        parts.append(verdict)
    if mag is not None:
        parts.append(f"{_pct(mag)}" + (f" vs {ref}" if ref else ""))
    title = " · ".join(st.safe(p) for p in parts)
    if note:
        title = f"[{st.safe(note, 40)}]  " + title
    fig.suptitle(title, x=geo.fx(geo.left), ha="left", va="center", y=geo.fy(geo.height - 0.32),
                 fontproperties=st.fp(14, "bold"), parse_math=False, usetex=False)
    if expl_lines:
        fig.text(geo.fx(geo.left), geo.fy(geo.height - 0.52), "\n".join(expl_lines), ha="left", va="top",
                 fontproperties=st.fp(9.5), color="#333333", parse_math=False, usetex=False,
                 linespacing=1.35)

    if out is not None:
        fig.savefig(os.fspath(out), dpi=dpi, format=figure_format(out), facecolor="white")
    return fig


FIGURE_FORMATS = ("png", "svg", "pdf")


def figure_format(path: str | os.PathLike) -> str:
    """The file format a plot path asks for (by its suffix; none → PNG); anything else is bad input."""
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in FIGURE_FORMATS:
        raise BadInput(f"cannot write a plot as .{suffix}: use a .png, .svg or .pdf file name")
    return suffix


def _intraday_span(event: Mapping, ibars: pd.DataFrame, step: float) -> tuple[float | None, float]:
    """(onset x, trough x) of the intraday anomaly; onset from the event, trough = extreme after it."""
    a = event.get("anomaly") or {}
    mag = _fnum(a.get("magnitude")) or -1.0
    down = mag < 0
    onset_ts = _ts(event.get("onset")) if event.get("onset_precision") in ("minute", "second") else None
    if onset_ts is None:
        s = _ts(a.get("start"))
        if s is not None and not (s.hour == 15 and s.minute == 0):
            onset_ts = s
    ts = ibars["ts"]
    if onset_ts is not None:
        after = ts >= onset_ts
        if not after.any():
            return None, 0.0
        i0 = int(np.flatnonzero(after.to_numpy())[0])
    else:
        i0 = None
    series = ibars["low"].to_numpy() if down else ibars["high"].to_numpy()
    start = 0 if i0 is None else i0
    seg = series[start:]
    i_ext = start + int(np.nanargmin(seg) if down else np.nanargmax(seg))
    if i0 is None:
        # Unknown onset (a daily finding): the last bar before the extreme that was still within
        # 20 % of the move from the highest (lowest) level of the 30 bars before it.
        lo = max(0, i_ext - 30)
        opp = (ibars["high"] if down else ibars["low"]).to_numpy(dtype=float)[lo:i_ext + 1]
        ref = np.nanmax(opp) if down else np.nanmin(opp)
        thr = ref - 0.2 * (ref - series[i_ext])
        near = np.flatnonzero(opp >= thr) if down else np.flatnonzero(opp <= thr)
        i0 = lo + int(near[-1]) if len(near) else i_ext
    x = ibars["x"].to_numpy(dtype=float)
    return float(x[i0] - step), float(x[i_ext])


def _news_lane(ax, badges: list[_Badge], lanes: list[tuple[int, int, str]], n_rows: int, st: _Style,
               gl: float, gr: float, x_lo: float, x_hi: float, x_right: float, x_left: float) -> None:
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.grid(False)
    ax.tick_params(axis="y", length=0)
    if gl:
        ax.axvspan(x_lo, x_left - 0.5, color="#f2f2f2", lw=0, zorder=0)
    if gr:
        ax.axvspan(x_right + 0.5, x_hi, color="#f2f2f2", lw=0, zorder=0)
    if not badges:
        ax.set_yticks([])
        _text(ax, 0.5, 0.5, st.t("无关联新闻", "no linked news"), st, size=8, color="#777777",
              ha="center", va="center", transform=ax.transAxes)
        return
    ticks, labels, colors = [], [], []
    for k, (first, n, role) in enumerate(lanes):
        ticks.append(first + (n - 1) / 2)
        labels.append(st.t(ROLE_ZH.get(role, "其他"), role or "other") if st.cjk else (role or "other"))
        colors.append(ROLE_COLORS.get(role, OTHER_ROLE))
        if k:
            ax.axhline(first - 0.5, color="#e0e0e0", lw=0.7, zorder=0)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    for lab, c in zip(ax.get_yticklabels(), colors):
        _inert(lab)
        lab.set_color(c)
        lab.set_fontproperties(st.fp(7.5 if st.cjk else 6.5, "bold"))
    for b in badges:
        c = ROLE_COLORS.get(b.role, OTHER_ROLE)
        if b.span is not None:
            ax.fill_between([b.span[0], b.span[1]], b.row - 0.22, b.row + 0.22, facecolor="none",
                            edgecolor=c, hatch="////", lw=0.0, alpha=0.55, zorder=1)
        single = len(b.items) == 1 and len(b.label) <= 2
        box = ("circle,pad=0.22" if b.exact else "square,pad=0.28") if single else "round,pad=0.25"
        _text(ax, b.x, b.row, b.label, st, size=BADGE_PT, weight="bold", color="white", ha="center",
              va="center", zorder=4, bbox=dict(boxstyle=box, fc=c, ec="white", lw=0.5))


def _context(ax, event: Mapping, full: pd.DataFrame, idx: pd.DataFrame, bench: str | None,
             day: pd.Timestamp, k_ev: int | None, st: _Style, stock_label: str) -> None:
    if full.empty or k_ev is None:
        _text(ax, 0.5, 0.5, st.t("无日线数据", "no daily bars"), st, size=9, color="#777777",
              ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    es = event.get("event_study") or {}
    windows = [w for w in (es.get("windows") or []) if isinstance(w, Mapping)]
    spans = [p for p in (_parse_window(w.get("window")) for w in windows) if p]
    w_lo = min([p[0] for p in spans] + [-5])
    w_hi = max([p[1] for p in spans] + [5])
    after = min(len(full) - 1, k_ev + max(w_hi, 10))
    lo = max(0, k_ev - CONTEXT_BEFORE)
    d = full.iloc[lo:after + 1].reset_index(drop=True)
    k0 = k_ev - lo
    x = np.arange(len(d), dtype=float)
    base = float(d["close"].iloc[0])
    ax.plot(x, d["close"] / base * 100, color="#1b2a41", lw=1.3, label=stock_label)
    bname = ""
    if bench is not None and not idx.empty:
        m = d[["day"]].merge(idx[["day", "close"]], on="day", how="left")
        ib = m["close"].to_numpy(dtype=float)
        first = ib[np.isfinite(ib)][0] if np.isfinite(ib).any() else np.nan
        info = _resolve(bench)
        bname = st.safe(info.name if info else "", 12, min_letters=3)
        ax.plot(x, ib / first * 100, color="#7f8c9a", lw=1.1, label=f"{bname} {bench}".strip())
    ax.axvline(k0, color="#8a6d00", lw=0.8, ls="--")
    ax.axhline(100, color="#bbbbbb", lw=0.6)
    ax.set_ylabel(st.t("归一化 = 100", "normalised = 100"), fontproperties=st.fp(8.5))
    ax.set_xlim(-0.7, len(d) - 0.3)
    ticks, labels = _daily_ticks(pd.DatetimeIndex(d["day"]), k0, n_target=7)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    title = st.t(f"背景（{d['day'].iloc[0]:%Y-%m-%d} = 100）", f"context (= 100 on {d['day'].iloc[0]:%Y-%m-%d})")
    _text(ax, 0.005, 1.02, title, st, size=8.5, weight="bold", transform=ax.transAxes, ha="left",
          va="bottom", color="#333333")
    handles, labels_ = ax.get_legend_handles_labels()
    # CAR path on a twin axis
    car_label = None
    if bench is not None and not idx.empty:
        est = es.get("estimation") or {}
        alpha, beta = _fnum(est.get("alpha")), _fnum(est.get("beta"))
        model = "market model" if alpha is not None and beta is not None else "market-adjusted"
        rel, car = _car_path(full, idx, k_ev, w_lo, w_hi, alpha or 0.0, 1.0 if beta is None else beta)
        if len(rel) > 1:
            ax2 = ax.twinx()
            ax2.tick_params(labelsize=7.5, labelfontfamily=st.families, colors="#b35900")
            ax2.fill_between(rel + k0, car * 100, 0, color="#e67e22", alpha=0.12, lw=0, step=None)
            ax2.plot(rel + k0, car * 100, color="#e67e22", lw=1.4, marker="o", ms=2.5)
            ax2.axhline(0, color="#e67e22", lw=0.5, alpha=0.5)
            lim = max(1.0, float(np.nanmax(np.abs(car))) * 100 * 1.35)
            ax2.set_ylim(-lim, lim)
            from matplotlib.ticker import FuncFormatter

            ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _pct_tick(v)))
            ax2.set_ylabel(st.t("累计超额收益 CAR", "CAR"), fontproperties=st.fp(8), color="#b35900")
            car_label = f"CAR [{w_lo:+d},{w_hi:+d}] ({model})".replace("+0", "0")
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color="#e67e22", lw=1.4, marker="o", ms=2.5))
            labels_.append(car_label)
    leg = ax.legend(handles, labels_, loc="lower right", bbox_to_anchor=(1.0, 1.0), prop=st.fp(7.5),
                    frameon=False, ncol=3, borderaxespad=0.1, handlelength=1.6, columnspacing=1.0)
    for t in leg.get_texts():
        _inert(t)


def _right_column(ax, fig, event: Mapping, items: list[_Item], extra: int, day: pd.Timestamp,
                  st: _Style, full: pd.DataFrame, idx: pd.DataFrame, k_ev: int | None,
                  prev_close: float | None, d_low: float | None, d_close: float | None,
                  bench: str | None) -> None:
    def _rt(ax_, x, y, s, st_, **kw):
        return _text(ax_, x, y, s, st_, transform=ax_.transAxes, clip_on=False, **kw)

    bbox = ax.get_position()
    h_in = bbox.height * fig.get_figheight()
    line = lambda pt: pt * 1.42 / 72 / h_in  # noqa: E731  (axes-fraction height of a text line)
    y = 1.0
    _rt(ax, 0.0, y, st.t("关联新闻", "linked news"), st, size=10.5, weight="bold", va="top")
    y -= line(10.5) + line(3)
    if not items:
        _rt(ax, 0.0, y, st.t("无公开新闻（no public news）", "no public news"), st, size=8.5,
              color="#555555", va="top")
        y -= line(8.5) * 1.5
    for it in items:
        c = ROLE_COLORS.get(it.role, OTHER_ROLE)
        yc = y - line(8) * 0.45
        ax.scatter([0.03], [yc], s=11.0 ** 2, color=c, transform=ax.transAxes, clip_on=False,
                   edgecolors="white", linewidths=0.5,
                   marker="o" if it.precision in ("minute", "second") else "s")
        _rt(ax, 0.03, yc, str(it.n), st, size=6.3, weight="bold", color="white", ha="center",
              va="center")
        head = f"{_time_label(it, day, st)}  "
        _rt(ax, 0.085, y, head, st, size=8, weight="bold", va="top", color="#222222")
        role = _role_label(it.role, st)
        kind = st.safe(it.kind, 14)
        _rt(ax, 0.36, y, f"{role}", st, size=8, weight="bold", va="top", color=c)
        _rt(ax, 1.0, y, kind, st, size=7.2, va="top", ha="right", color="#777777")
        y -= line(8)
        src = fonts.ascii_text(clean_text(it.source), "", min_letters=3)
        fb = truncate(f"[{it.kind or 'news'}] {src or 'source in Chinese'}", TITLE_CHARS)
        title = st.safe(it.title, TITLE_CHARS, fallback=fb)
        _rt(ax, 0.085, y, title, st, size=8.3, va="top", color="#111111")
        y -= line(8.3) + line(3.2)
    if items:
        _rt(ax, 0.0, y, st.t("● 精确时间   ■ 时段或日期（~，阴影为可能区间）",
                             "● exact time   ■ session/day (~, hatched = possible span)"), st, size=6.8,
            color="#777777", va="top")
        y -= line(6.8) * 1.5
    if extra:
        _rt(ax, 0.085, y, st.t(f"另有 {extra} 条（见报告）", f"+{extra} more (see report)"), st, size=7.5,
              color="#777777", va="top")
        y -= line(7.5) * 1.4
    # key figures
    y -= line(4)
    ax.plot([0, 1], [y + line(2), y + line(2)], color="#dddddd", lw=0.8, transform=ax.transAxes)
    _rt(ax, 0.0, y, st.t("要点", "key figures"), st, size=10.5, weight="bold", va="top")
    y -= line(10.5) + line(2)
    rows = _figure_rows(event, st, full, idx, k_ev, prev_close, d_low, d_close, bench)
    for k, v in rows:
        if y < line(8):
            break
        _rt(ax, 0.0, y, k, st, size=8, va="top", color="#555555")
        _rt(ax, 0.42, y, v, st, size=8, va="top", color="#111111")
        y -= line(8) * 1.12


def _figure_rows(event: Mapping, st: _Style, full: pd.DataFrame, idx: pd.DataFrame, k_ev: int | None,
                 prev_close: float | None, d_low: float | None, d_close: float | None,
                 bench: str | None) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    a = event.get("anomaly") or {}
    mag = _fnum(a.get("magnitude"))
    if mag is not None:
        kind = st.safe(a.get("kind") or "", 22)
        ref = st.safe(a.get("reference") or "", 16)
        rows.append((st.t("异动幅度", "magnitude"), f"{_pct(mag)} vs {ref}"))
        if kind:
            rows.append((st.t("类型", "kind"), kind))
    score, p = _fnum(a.get("score")), _fnum(a.get("p_value"))
    if score is not None or p is not None:
        rows.append((st.t("统计量 / p", "score / p"), f"{_num(score)} / {_pfmt(p)}"))
    if prev_close and d_low is not None and d_close is not None:
        rows.append((st.t("最低 / 收盘", "low / close"),
                     f"{_pct(d_low / prev_close - 1)} / {_pct(d_close / prev_close - 1)}"))
    rec = _fnum(event.get("recovery"))
    if rec is not None:  # share of the day's move retraced by the close
        rows.append((st.t("收盘收复幅度", "retraced by close"), f"{rec * 100:.0f}%"))
    if k_ev is not None and k_ev > 0:
        v0, v1 = _fnum(full["volume"].iloc[k_ev - 1]), _fnum(full["volume"].iloc[k_ev])
        if v0 and v1 is not None:
            rows.append((st.t("量比（前日）", "volume vs prev day"), f"{v1 / v0:.2f}×"))
    if bench is not None and not idx.empty:
        r = idx[idx["day"] == (full["day"].iloc[k_ev] if k_ev is not None else None)]
        if len(r) and _fnum(r["prev_close"].iloc[0]):
            info = _resolve(bench)
            nm = st.safe(info.name if info else "", 10, min_letters=3)
            rows.append((st.t("基准当日", "benchmark day"),
                         f"{_pct(float(r['close'].iloc[0]) / float(r['prev_close'].iloc[0]) - 1)}  {nm} {bench}".rstrip()))
    es = event.get("event_study") or {}
    for w in (es.get("windows") or [])[:4]:
        if not isinstance(w, Mapping):
            continue
        car, t, pv = _fnum(w.get("car")), _fnum(w.get("t")), _fnum(w.get("p"))
        rows.append((f"CAR {st.safe(w.get('window'), 12)}", f"{_pct(car)}  t {_num(t)}  p {_pfmt(pv)}"))
    return rows


def _pct_tick(v: float) -> str:
    """Tick label for a percentage axis: "+2.5%", "0%", "−10%"."""
    if abs(v) < 1e-9:
        return "0%"
    return f"{v:+.3g}%".replace("-", "−")


def _pfmt(p: float | None) -> str:
    return p_text(p).replace("-", "−")


def event_plot_png(event: Mapping, bars: pd.DataFrame | None, index_bars: pd.DataFrame | None = None,
                   intraday: pd.DataFrame | None = None, path: str | os.PathLike | None = None,
                   **kwargs) -> bytes:
    """The event plot as PNG bytes (also written to ``path`` when given). Keyword arguments as for
    ``plot_event`` (``daily_context``, ``note``, ``cjk``, ``dpi``)."""
    fig = plot_event(event, bars, index_bars=index_bars, intraday=intraday, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=kwargs.get("dpi", DPI), facecolor="white")
    data = buf.getvalue()
    if path is not None:
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return data
