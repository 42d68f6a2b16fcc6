"""event_study: the market-model event study of every event of market-wide days (REAL bundled panel).

A whole-market rally or crash day gives an event for most of the market, and the link stage runs one
event study per event, so its cost per event decides whether such a night finishes in seconds or
minutes.

``ours``      ``anomaly.eventstudy.event_study`` for every (stock, day) of the chosen days of the
              bundled 292-stock panel against its board's benchmark (benchmark returns precomputed
              once per index, as ``correlate.link_events`` does): arrays aligned on the benchmark's
              trading days, one pass over the stock's rows, windows as index arithmetic.
``baseline``  the straightforward per-event pandas composition the library used before: the stock's
              ``daily_returns`` and ``marketmodel.limit_hit_days`` (each filtering and sorting the
              rows), a joined frame per event, ``marketmodel.fit_event`` on it, then pandas slicing per
              window and per day. Run on the first ``baseline_events`` events and scaled linearly.
``same_results``  on those events both give identical dicts (errors included), apart from the
              ``estimation.source`` label.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..common import emit, measure_ours, record, targets_met, timed


def _inputs(n_days: int):
    from anomaly.eventstudy import daily_returns
    from anomaly.sources.sample import sample_daily_bars

    bars = sample_daily_bars()
    by = {s: g for s, g in bars.groupby("symbol", sort=False)}
    stocks = sorted(s for s in by if "." not in s)
    # the panel's busiest market-wide days first (most stocks moving ≥ 5 % either way), then the rest
    stock_bars = bars[bars["symbol"].isin(stocks)]
    move = (stock_bars["close"] / stock_bars["prev_close"] - 1).abs() >= 0.05
    day = stock_bars["ts"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.normalize()
    busiest = move.groupby(day).sum().sort_values(ascending=False, kind="stable")
    days = [d for d in busiest.index if d >= pd.Timestamp("2023-01-01")][:n_days]
    bench = {k: daily_returns(by[k], k) for k in ("399001.SZ", "000001.SH")}
    events = [(s, d, "000001.SH" if s.startswith("6") else "399001.SZ") for d in days for s in stocks]
    return by, bench, events, days


def _ours(by, bench, events):
    from anomaly.errors import BadInput
    from anomaly.eventstudy import event_study

    out = []
    for sym, day, bk in events:
        try:
            out.append(event_study(sym, day, by[sym], by[bk], bk, benchmark_returns=bench[bk]))
        except BadInput as exc:
            out.append({"error": str(exc)})
    return out


def _baseline_one(symbol, event_day, bars, benchmark, m, windows=((0, 0), (-1, 1), (0, 5)),
                  est=(-250, -11), min_est=60):
    """The per-event pandas path, as the library computed it before the array version."""
    from scipy import stats

    from anomaly.errors import BadInput
    from anomaly.eventstudy import _day, _index_name, _r, daily_returns, window_label
    from anomaly.marketmodel import fit_event, limit_hit_days
    from anomaly.symbols import resolve

    day0 = _day(event_day)
    s = daily_returns(bars, symbol)
    if s.empty:
        raise BadInput(f"no daily bars for {symbol} (needed for the event study)")
    frame = pd.DataFrame({"mret": m["ret"]}).join(s[["ret", "close"]], how="left")
    traded = frame["close"].notna().to_numpy()
    after_gap = np.r_[False, ~traded[:-1]] & traded
    try:
        sym = resolve(symbol)
    except BadInput:
        sym = None
    hits = (limit_hit_days(bars, symbol, board=sym.board, st=sym.is_st) if sym is not None and not sym.is_index
            else pd.Series(dtype=bool))
    frame["exclude"] = after_gap | hits.reindex(frame.index).fillna(False).to_numpy(bool)
    if day0 not in frame.index:
        raise BadInput(f"{day0.date()} is not a trading day in the {benchmark} bars")
    pos0 = int(frame.index.get_loc(day0))
    if not np.isfinite(frame["ret"].iloc[pos0]):
        raise BadInput(f"{symbol} has no bar with a return on {day0.date()} (suspended?)")
    res = fit_event(frame["ret"], frame["mret"], frame.index[pos0], est=est, windows=tuple(windows),
                    exclude=frame["exclude"], min_obs=min_est, benchmark=benchmark)
    e = res["estimation"]
    if res.get("error"):
        raise BadInput(f"event study of {symbol} on {day0.date()}: {res['error']} in [{est[0]},{est[1]}]; "
                       "supply longer history")
    lo, hi = max(pos0 + est[0], 0), pos0 + est[1]
    span = frame.iloc[lo:hi + 1]
    x = span[span["ret"].notna() & span["mret"].notna() & ~span["exclude"]]["mret"].to_numpy(float)
    alpha, beta, sigma = float(e["alpha"]), float(e["beta"]), float(e["sigma"])
    X = np.column_stack([np.ones_like(x), x])
    xtx_inv = np.linalg.pinv(X.T @ X)
    frame["ar"] = frame["ret"] - (alpha + beta * frame["mret"])
    wins = []
    for a, b in windows:
        rows = frame.iloc[max(pos0 + a, 0):max(pos0 + b + 1, 0)]
        rows = rows[rows["ar"].notna()]
        L = len(rows)
        entry = {"window": window_label((a, b)), "start": str(rows.index.min().date()) if L else None,
                 "end": str(rows.index.max().date()) if L else None, "n_days": L,
                 "n_days_expected": b - a + 1, "complete": L == b - a + 1}
        if L:
            car = float(rows["ar"].sum())
            ones = np.column_stack([np.ones(L), rows["mret"].to_numpy(float)]).sum(axis=0)
            sd = math.sqrt(sigma ** 2 * (L + float(ones @ xtx_inv @ ones)))
            t = car / sd
            entry.update({"car": _r(car), "sd": _r(sd), "t": _r(t, 4),
                          "p": _r(2.0 * stats.t.sf(abs(t), max(int(e["n"]) - 2, 1)), 6)})
        else:
            entry.update({"car": None, "sd": None, "t": None, "p": None})
        wins.append(entry)
    k_lo, k_hi = min(a for a, _ in windows), max(b for _, b in windows)
    days = []
    for k in range(k_lo, k_hi + 1):
        if 0 <= pos0 + k < len(frame):
            r = frame.iloc[pos0 + k]
            days.append({"day": k, "date": str(frame.index[pos0 + k].date()), "ret": _r(r["ret"]),
                         "index_ret": _r(r["mret"]), "ar": _r(r["ar"])})
    ar0 = float(frame["ar"].iloc[pos0])
    after = frame["ar"].iloc[pos0 + 1:pos0 + k_hi + 1].dropna() if k_hi >= 1 else frame["ar"].iloc[0:0]
    car_after = float(after.sum()) if len(after) else None
    return {"symbol": symbol, "event_day": str(day0.date()), "benchmark": benchmark,
            "benchmark_name": _index_name(benchmark), "model": "market model",
            "estimation": {"start": e["start"], "end": e["end"], "window": window_label(est), "n": int(e["n"]),
                           "alpha": _r(alpha, 8), "beta": _r(beta), "sigma": _r(sigma, 8),
                           "source": "anomaly.marketmodel.fit_event"},
            "windows": wins, "days": days,
            "recovery": {"ar0": _r(ar0), "after": window_label((1, k_hi)) if k_hi >= 1 else None,
                         "n_days_after": int(len(after)),
                         "car_after": _r(car_after),
                         "fraction": _r(-car_after / ar0) if car_after is not None and abs(ar0) > 1e-12 else None}}


def _baseline(by, bench, events):
    from anomaly.errors import BadInput

    out = []
    for sym, day, bk in events:
        try:
            out.append(_baseline_one(sym, day, by[sym], bk, bench[bk]))
        except BadInput as exc:
            out.append({"error": str(exc)})
    return out


def _comparable(results):
    out = []
    for r in results:
        if "estimation" in r:
            r = dict(r, estimation={k: v for k, v in r["estimation"].items() if k != "source"})
        out.append(r)
    return out


def run(size: dict, label: str) -> None:
    by, bench, events, days = _inputs(size["days"])
    _ours(by, bench, events[:5])                       # warm: imports, lru caches
    sec, runs, peak, scope, ours = measure_ours(lambda: _ours(by, bench, events), size["repeats"])
    sub = events[:size["baseline_events"]]
    bsec_sub, base = timed(lambda: _baseline(by, bench, sub))
    bsec = bsec_sub * len(events) / len(sub)
    rec = record("event_study", len(events), sec, "per-event pandas composition with marketmodel.fit_event",
                 bsec, peak, "events", data="real (bundled 292-stock panel)", size=label,
                 days=[str(d.date()) for d in days], studies_ok=sum("error" not in r for r in ours),
                 baseline_extrapolated_from=len(sub),
                 same_results=_comparable(ours[:len(sub)]) == _comparable(base),
                 seconds_runs=[round(x, 4) for x in runs], peak_rss_scope=scope)
    rec.update(targets_met(rec, ratio_min=3.0))
    emit(rec)
