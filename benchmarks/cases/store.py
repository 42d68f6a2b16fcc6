"""store: the embedded store (Parquet files + DuckDB) on whole-market sizes.

Lines (SYNTHETIC bars from ``anomaly.simulate``; every store lives in a fresh temporary folder):

``store.write_minute_day``  ``Store.write_bars(day, "1min", spans)`` of one whole-market day of
                            1-minute bars (5,000 × 240 at full size), coverage for every symbol —
                            atomic write, fsync and all. Baseline: ``DataFrame.to_csv`` of the same
                            frame (one file, no coverage, no atomicity).
``store.read_minute_day``   ``Store.bars(all symbols, day, day, "1min")`` back into canonical bars.
                            Baseline: ``pd.read_csv`` of that CSV with the timestamps parsed back to
                            tz-aware ``Asia/Shanghai``.
``store.read_symbol_year``  ``Store.bars([one symbol], start, end, "daily")`` — a year of one
                            symbol's daily bars from a store holding ``stored_symbols`` symbols.
                            Baseline: ``pd.read_csv`` of a per-symbol CSV with parsed timestamps.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from ..common import emit, measure_ours, record, timed, warm_calendar

TZ = "Asia/Shanghai"


def _csv_read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"symbol": str})
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_convert(TZ)
    return df


def run(size: dict, label: str) -> None:
    from anomaly.simulate import simulate_daily, simulate_market
    from anomaly.store import Store

    warm_calendar()
    S = size["symbols"]
    gen_s, (mbars, _) = timed(lambda: simulate_market(S, 1, "1min", seed=3))
    day = mbars["ts"].iloc[0].tz_convert(TZ).date()
    syms = sorted(mbars["symbol"].unique())
    spans = {s: [(day, day)] for s in syms}
    root = Path(tempfile.mkdtemp(prefix="anomaly-bench-store-"))
    try:
        # --- write one whole-market minute day (fresh store per run) ---
        k = [0]

        def write():
            k[0] += 1
            return Store(root / f"w{k[0]}").write_bars(mbars, "1min", spans)

        sec, runs, peak, scope, _ = measure_ours(write, size["repeats"])
        csv = root / "day.csv"
        bsec, _ = timed(lambda: mbars.to_csv(csv, index=False))
        size_mb = sum(p.stat().st_size for p in (root / "w1").rglob("*.parquet")) / 1e6
        emit(record("store.write_minute_day", len(mbars), sec, "pandas DataFrame.to_csv of the same frame", bsec,
                    peak, "bars", data="synthetic", size=label, symbols=S, seconds_runs=[round(x, 3) for x in runs],
                    peak_rss_scope=scope, parquet_mb=round(size_mb, 1), csv_mb=round(csv.stat().st_size / 1e6, 1),
                    timed="Store.write_bars(bars, '1min', spans) into an empty store: coverage, zstd Parquet, "
                          "fsync, atomic replace"))

        # --- read it back ---
        st = Store(root / "w1")
        sec, runs, peak, scope, back = measure_ours(lambda: st.bars(syms, day, day, "1min"), size["repeats"])
        bsec, _ = timed(lambda: _csv_read(csv))
        emit(record("store.read_minute_day", len(back), sec, "pandas read_csv of the same day + timestamp parsing",
                    bsec, peak, "bars", data="synthetic", size=label, symbols=S,
                    seconds_runs=[round(x, 3) for x in runs], peak_rss_scope=scope,
                    round_trip_equal=bool(len(back) == len(mbars)),
                    timed="Store.bars(all symbols, day, day, '1min') → canonical, sorted, tz-aware bars"))

        # --- one symbol's year of daily bars ---
        n_store = min(S, 200)
        dbars, _, _ = simulate_daily(n_store, size["daily_days"], seed=4, start="2023-01-03")
        dst = Store(root / "d")
        dsyms = sorted(dbars["symbol"].unique())
        first, last = dbars["ts"].min().tz_convert(TZ).date(), dbars["ts"].max().tz_convert(TZ).date()
        dst.write_bars(dbars, "daily", {s: [(first, last)] for s in dsyms})
        one = dsyms[len(dsyms) // 2]
        (root / "csv").mkdir()
        one_csv = root / "csv" / f"{one}.csv"
        dbars[dbars["symbol"] == one].to_csv(one_csv, index=False)
        reps = max(size["repeats"], 5)
        sec, runs, peak, scope, got = measure_ours(lambda: dst.bars([one], first, last, "daily"), reps)
        bsec_all = []
        for _ in range(reps):
            b, _ = timed(lambda: _csv_read(one_csv))
            bsec_all.append(b)
        bsec_all.sort()
        emit(record("store.read_symbol_year", len(got), sec, "pandas read_csv of a per-symbol CSV + timestamp parsing",
                    bsec_all[len(bsec_all) // 2], peak, "bars", data="synthetic", size=label,
                    stored_symbols=n_store, days=size["daily_days"], seconds_runs=[round(x, 4) for x in runs],
                    peak_rss_scope=scope,
                    timed=f"Store.bars([symbol], start, end, 'daily'), median of {reps} runs",
                    data_seconds=round(gen_s, 2)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
