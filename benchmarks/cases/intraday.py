"""intraday_detect: the default intraday detectors (``DetectConfig().intraday``) over one whole-market
day of 1-minute bars.

Data      SYNTHETIC 1-minute bars from ``anomaly.simulate.simulate_market`` (5,000 symbols × 240 bars
          at full size) for the scanned day plus ``prior_days`` trailing days of the same symbols —
          the detectors need them for their time-of-day profile (``cliff``; ``lee_mykland`` also for
          its window K = ⌊√(252·240)⌋ = 245 bars, which reaches into the previous day). Planted cliffs and
          spikes on the scanned day (onset at random minutes).
Ours      one ``run_detectors(bars, [make_detector(n) for n in DetectConfig().intraday], ctx)`` call over all symbols and all the
          days given (what a nightly job does with trailing days loaded); ``n`` counts the scanned
          day's bars, ``bars_processed`` everything the call read.
Baseline  the same detectors called once per symbol (a per-symbol loop over the same logic, so the
          records must be identical: ``baseline_same_records``), on ``baseline_extrapolated_from``
          symbols, scaled linearly to the market.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..common import emit, measure_ours, record, targets_met, timed, warm_calendar


def make_data(symbols: int, days: int, prior_days: int, seed: int = 11):
    from anomaly.simulate import Plant, simulate_market, synthetic_symbols

    events = [Plant("cliff", day=-1, prob=0.02, onset="random", depth=(0.04, 0.10)),
              Plant("spike", day=-1, prob=0.01, onset="random", depth=(0.04, 0.10))]
    bars, truth = simulate_market(symbols, days + prior_days, "1min", seed=seed, events=events)
    meta = synthetic_symbols(symbols).set_index("symbol")
    meta["exchange"] = np.where(meta.index.str.startswith("6"), "SH", "SZ")
    meta["is_st"] = False
    return bars, truth, meta[["board", "exchange", "is_st"]]


def detectors():
    from anomaly.config import DetectConfig
    from anomaly.detect import make_detector

    return [make_detector(n) for n in DetectConfig().intraday]


def ours(bars, meta):
    from anomaly.detect import Context, run_detectors

    return run_detectors(bars, detectors(), Context(meta=meta))


def baseline(bars: pd.DataFrame, meta: pd.DataFrame, symbols) -> pd.DataFrame:
    from anomaly.detect import Context, run_detectors

    dets = detectors()
    ctx = Context(meta=meta)
    frames = []
    sym = bars["symbol"]
    for s in symbols:
        frames.append(run_detectors(bars[sym == s], dets, ctx))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = ["symbol", "kind", "start", "end", "magnitude", "score"]
    if len(a) != len(b):
        return False
    if not len(a):
        return True
    x = a[cols].sort_values(cols[:4]).reset_index(drop=True)
    y = b[cols].sort_values(cols[:4]).reset_index(drop=True)
    return bool((x[cols[:4]] == y[cols[:4]]).all().all()
                and np.allclose(x[["magnitude", "score"]], y[["magnitude", "score"]], equal_nan=True))


def run(size: dict, label: str) -> None:
    warm_calendar()
    S, D, P = size["symbols"], size["days"], size["prior_days"]
    gen_s, (bars, truth, meta) = timed(lambda: make_data(S, D, P))
    last_day = bars["ts"].max().normalize()
    n_day = int((bars["ts"] >= last_day).sum())
    sec, runs, peak, scope, recs = measure_ours(lambda: ours(bars, meta), size["repeats"])
    k = min(size["baseline_symbols"], S)
    subset = list(meta.index[:: max(S // k, 1)][:k])
    bsec, base = timed(lambda: baseline(bars, meta, subset))
    full_bsec = bsec * S / len(subset)
    mine = recs[recs["symbol"].isin(subset)] if len(recs) else recs
    on_day = recs[recs["start"] >= last_day] if len(recs) else recs
    names = [d.name for d in detectors()]
    rec = record("intraday_detect", n_day, sec, f"per-symbol loop over the same detectors ({', '.join(names)})",
                 full_bsec, peak, "bars of the scanned day",
                 data="synthetic", generator="anomaly.simulate.simulate_market(freq='1min', seed=11)",
                 size=label, symbols=S, scanned_days=D, prior_days=P, bars_processed=int(len(bars)),
                 seconds_per_processed_day=round(sec / (D + P), 3),
                 seconds_runs=[round(x, 3) for x in runs], peak_rss_scope=scope,
                 detectors=names,
                 timed=f"one run_detectors call ({' + '.join(names)}) over {S} symbols x {D + P} days of "
                       "1-minute bars (the scanned day and its trailing days), validation and records included",
                 records_scanned_day={k_: int(v) for k_, v in on_day["kind"].value_counts().items()} if len(on_day) else {},
                 planted_events=int(len(truth)),
                 baseline_extrapolated_from=len(subset), baseline_subset_seconds=round(bsec, 3),
                 baseline_same_records=_same(mine, base), data_seconds=round(gen_s, 2))
    rec.update(targets_met(rec, ratio_min=50, seconds_max=5.0))
    emit(rec)
