"""backfill: the nightly scan over a backfill window of a simulated whole market, local vs Dask engine.

Data      SYNTHETIC (``anomaly.simulate.simulate_daily``, seeded, with planted cliffs/spikes/volume
          surges): ``symbols`` stocks × ``days`` trading days of canonical daily bars plus the index
          399001.SZ, written into a temporary store with ``Store.write_bars`` (so the scan reads them
          with ``--source store`` like a backfill over a fetched store), and synthetic news filed under
          the stocks (``benchmarks.data.make_news``) so that linking has work to do. Nothing here is
          market data; every record says ``"data": "synthetic"``.
Scan      ``anomaly.scan.run_scan(config, start, end, engine=…, plots=False)`` over the last
          ``window`` trading days: detect (every default daily detector, with its full lookback),
          the cross-section on the driver, link, report and stored results for every date — the
          same call ``anomaly scan --start --end --engine … --no-plots`` makes. Timed: the whole
          call, wall clock. Untimed: simulation, store writing, starting the Dask cluster, and a
          warm-up (detect + link of one small batch) in the driver before the local runs and on
          every Dask worker before the Dask run, so that no run pays the package's first imports —
          a long-running cluster's workers have them already (``dask_worker_warmup_seconds``).
Runs      baseline: ``engine="local"`` with ``scan.workers = 1`` (in-process, no pool);
          ``local_pool``: ``engine="local"``, 2 worker processes (fork pool);
          ``dask``: ``engine="dask"`` against a ``LocalCluster`` of 2 worker processes × 1 thread on
          loopback started beforehand (as a user with a running cluster would; its start-up time is
          reported separately as ``dask_cluster_start_seconds``).
Check     ``identical_results``: every date's events.json and anomalies.csv are byte-identical
          across the three runs.

One record per engine run against the baseline (``ratio`` = baseline_seconds / seconds: above 1 is
faster than one in-process worker). On a 2-core machine the pool and the cluster compete with the
driver (and, for Dask, with the scheduler, which runs in the driver's process) for the same two
cores, and Dask adds task and result serialisation and scheduler round-trips — expect no more than
the pool's ratio. The gain from Dask comes from adding machines, which one host cannot show.

``python -m benchmarks.case_backfill [--quick|--tiny] [--symbols N]`` prints one JSON object per line.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "backfill"
INDEX_ID = "399001.SZ"
SEED = 11

SIZES: dict[str, dict[str, int]] = {
    # days = simulated history (the detectors' lookback comes out of it); window = dates backfilled
    # full: 500 symbols keeps the three timed scans + set-up under ~3 min on 2 busy cores;
    # ``--symbols 5300`` is the whole market (about 10× longer)
    "full": dict(symbols=500, days=260, window=20, news_per_symbol=4),
    "quick": dict(symbols=300, days=160, window=5, news_per_symbol=3),
    "tiny": dict(symbols=40, days=80, window=3, news_per_symbol=2),
}
WORKERS = 2

BASELINE = "engine=local, scan.workers=1 (in-process, no pool), same data, same run"


# --- measuring ---------------------------------------------------------------------------------------

from benchmarks.common import _status_kb, reset_peak as _reset_peak  # noqa: E402  (one copy of the /proc readers)


def _peak_mb(reset_ok: bool) -> float:
    kb = _status_kb("VmHWM") if reset_ok else None
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def _round(x: Any, nd: int = 4) -> Any:
    if isinstance(x, float):
        return round(x, nd) if math.isfinite(x) else None
    return x


def _record(name: str, n: int, seconds: float | None, baseline_seconds: float | None, peak_rss_mb: float | None,
            **extra) -> dict:
    rec: dict[str, Any] = {
        "name": name, "n": int(n), "seconds": _round(seconds), "unit": "symbol-days",
        "rate": _round(n / seconds, 1) if seconds else None,
        "baseline": BASELINE, "baseline_seconds": _round(baseline_seconds),
        "ratio": None, "peak_rss_mb": _round(peak_rss_mb, 1),
    }
    if rec["seconds"] and rec["baseline_seconds"] is not None:
        rec["ratio"] = round(rec["baseline_seconds"] / rec["seconds"], 2)  # from the printed figures
    for k, v in extra.items():
        rec[k] = _round(v) if isinstance(v, float) else v
    rec["process_peak_rss_mb"] = _round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    rec["loadavg_1m"] = _round(os.getloadavg()[0], 2)
    return rec


# --- the data ----------------------------------------------------------------------------------------

def _watch_id(code: str) -> str:
    # With the exchange spelled out: plain "000300" resolves to the CSI 300 index, not the SZ stock code.
    return f"{code}.{'SH' if code.startswith('6') else 'SZ'}"


def make_store(root: Path, symbols: int, days: int, window: int, news_per_symbol: int) -> dict:
    """Simulate, write bars (+ index, + news) into ``root/store``, write the config; return the set-up."""
    import numpy as np
    import pandas as pd

    from anomaly.simulate import Plant, simulate_daily, synthetic_symbols
    from anomaly.store import Store

    events = [Plant("cliff", day=None, prob=0.003, depth=(0.06, 0.12), recovery=(0.3, 0.7)),
              Plant("spike", day=None, prob=0.002, depth=(0.06, 0.12)),
              Plant("volume_surge", day=None, prob=0.002, depth=6.0)]
    with np.errstate(invalid="ignore", divide="ignore"):  # simulate's np.where evaluates both branches
        bars, index_bars, truth = simulate_daily(symbols, days, seed=SEED, events=events, index_id=INDEX_ID)
    trade_days = sorted(bars["ts"].dt.date.unique())
    start, end = trade_days[-window], trade_days[-1]
    store = Store(root / "store")
    both = pd.concat([bars, index_bars], ignore_index=True)
    span = [(trade_days[0], trade_days[-1])]
    store.write_bars(both, "daily", {s: span for s in both["symbol"].unique()})
    codes = list(synthetic_symbols(symbols)["symbol"])
    n_news = 0
    if news_per_symbol:
        try:
            from benchmarks.data import company_names, make_news
        except ImportError:  # the shared generator moved: run without news rather than not at all
            make_news = None
        if make_news is not None:
            lo = trade_days[max(0, len(trade_days) - window - 5)]
            news = make_news(symbols * news_per_symbol, codes, company_names(codes), start=str(lo), end=str(end),
                             seed=SEED)
            n_news = store.write_news(news)
    cfg = root / "backfill.toml"
    watch = json.dumps([_watch_id(c) for c in codes])
    bench = "\n".join(f'"{k}" = "{INDEX_ID}"' for k in ("SZ.main", "SZ.chinext", "SH.main", "SH.star"))
    cfg.write_text(
        "# benchmarks/case_backfill.py: SYNTHETIC simulated market, read from the store\n"
        f'store = "{root / "store"}"\n[source]\ndefault = "store"\n'
        f'[universe]\nname = "watchlist"\nwatchlist = {watch}\n'
        f"[detect.benchmarks]\n{bench}\n"
        f'[scan]\nengine = "local"\nworkers = 1\nplots = false\nout = "{root / "out"}"\n', encoding="utf-8")
    return dict(config=cfg, store=store, start=start, end=end, dates=len(trade_days[-window:]),
                news=n_news, planted=len(truth))


def _outputs(out: Path) -> dict[str, bytes]:
    files = {}
    for day in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in ("events.json", "anomalies.csv"):
            files[f"{day.name}/{name}"] = (day / name).read_bytes()
    return files


def _warm_job(config, setup: dict):
    """A one-batch job (two symbols, the last date) to import and warm everything a worker needs."""
    from anomaly.scan import BatchJob

    codes = [_watch_id(c).split(".")[0] for c in config.universe.watchlist[:2]]
    return BatchJob(tuple(codes), setup["end"], setup["end"], "store", config, str(setup["store"].root))


def _warm(job) -> bool:
    """Untimed: detect and link one small batch (imports, exchange calendar, Parquet readers)."""
    from anomaly.scan import _detect_job, _link_job

    found = _detect_job(job)
    _link_job((job, found[0], None, [job.end]))
    return True


def _scan(config, setup: dict, out: Path, engine: str, scheduler: str | None = None) -> tuple[float, float, Any]:
    from anomaly.scan import run_scan

    ok = _reset_peak()
    t0 = time.perf_counter()
    result = run_scan(config, start=setup["start"], end=setup["end"], out=out, engine=engine, scheduler=scheduler,
                      plots=False, store=setup["store"], echo=lambda m: None)
    seconds = time.perf_counter() - t0
    return seconds, _peak_mb(ok), result


# --- the case ----------------------------------------------------------------------------------------

def run(quick: bool = False, tiny: bool = False, symbols: int | None = None) -> list[dict]:
    from anomaly import calendar as cal
    from anomaly.config import load_config

    size = dict(SIZES["tiny" if tiny else "quick" if quick else "full"])
    if symbols:
        size["symbols"] = int(symbols)
    label = "tiny" if tiny else "quick" if quick else "full"
    cal.trading_days("2022-01-04", "2024-12-31")  # warm the exchange calendar, untimed
    with tempfile.TemporaryDirectory(prefix="anomaly-bench-backfill-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        setup = make_store(root, size["symbols"], size["days"], size["window"], size["news_per_symbol"])
        setup_seconds = time.perf_counter() - t0
        config = load_config(setup["config"])
        one = dataclasses.replace(config, scan=dataclasses.replace(config.scan, workers=1))
        two = dataclasses.replace(config, scan=dataclasses.replace(config.scan, workers=WORKERS))
        n = size["symbols"] * setup["dates"]

        # Everything is imported and warm before any timed run (the pool forks from this process).
        _warm(_warm_job(two, setup))
        # 1. baseline: in-process. 2. the local process pool (forked before any Dask thread exists).
        base_s, base_pk, base_res = _scan(one, setup, root / "out-local1", "local")
        pool_s, pool_pk, pool_res = _scan(two, setup, root / "out-local2", "local")
        pool_children_pk = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

        # 3. Dask against a cluster already running on this machine.
        dask_s = dask_pk = cluster_s = warm_s = None
        dask_res, dask_workers_pk, dask_error = None, None, None
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            from anomaly.engines import DASK_HINT
            dask_error = DASK_HINT
        if dask_error is None:
            logging.getLogger("distributed").setLevel(logging.WARNING)
            t0 = time.perf_counter()
            with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=":0") as lc, Client(lc) as client:
                client.wait_for_workers(WORKERS, timeout=120)
                cluster_s = time.perf_counter() - t0
                # a running cluster's workers have imported the package already; so do these, untimed
                t0 = time.perf_counter()
                from anomaly.scan import _detect_job, _link_job  # importable on workers: no pickling of this file

                job = _warm_job(two, setup)
                found = client.run(_detect_job, job)
                client.run(_link_job, (job, next(iter(found.values()))[0], None, [job.end]))
                warm_s = time.perf_counter() - t0
                dask_s, dask_pk, dask_res = _scan(two, setup, root / "out-dask", "dask", lc.scheduler_address)
                dask_workers_pk = max(client.run(resource.getrusage, resource.RUSAGE_SELF).values(),
                                      key=lambda r: r.ru_maxrss).ru_maxrss / 1024.0

        ref = _outputs(root / "out-local1")
        same_pool = _outputs(root / "out-local2") == ref
        same_dask = (_outputs(root / "out-dask") == ref) if dask_res is not None else None
        n_events = sum(base_res.n_events.values())
        common = dict(
            data="synthetic", size=label, symbols=size["symbols"], history_days=size["days"],
            backfill_days=setup["dates"], backfill_start=str(setup["start"]), backfill_end=str(setup["end"]),
            news_items=setup["news"], planted_events=setup["planted"], events=n_events,
            failures=len(base_res.failures), workers=WORKERS, cpu_count=os.cpu_count(),
            local1_seconds=base_s, local_pool_seconds=pool_s, dask_seconds=dask_s,
            dask_cluster_start_seconds=cluster_s, setup_seconds=setup_seconds,
            identical_results=bool(same_pool and (same_dask is not False)),
            peak_rss_scope="driver process during the timed scan (VmHWM reset just before it)",
        )
        pool_rec = _record(f"{NAME}.local_pool", n, pool_s, base_s, pool_pk, engine="local", **common,
                           baseline_peak_rss_mb=base_pk, workers_peak_rss_mb=pool_children_pk,
                           identical_to_baseline=same_pool)
        dask_extra = dict(engine="dask", scheduler="LocalCluster 2 processes × 1 thread, 127.0.0.1", **common,
                          baseline_peak_rss_mb=base_pk, workers_peak_rss_mb=dask_workers_pk,
                          identical_to_baseline=same_dask,
                          dask_vs_local_pool=_round(pool_s / dask_s, 2) if dask_s else None,
                          dask_worker_warmup_seconds=warm_s,
                          dask_with_cluster_start_seconds=(dask_s + cluster_s + warm_s) if dask_s else None)
        if dask_error:
            dask_extra["skipped"] = dask_error
        dask_rec = _record(f"{NAME}.dask", n, dask_s, base_s, dask_pk, **dask_extra)
    return [pool_rec, dask_rec]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.case_backfill", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"{SIZES['quick']}")
    ap.add_argument("--tiny", action="store_true", help=f"{SIZES['tiny']}")
    ap.add_argument("--symbols", type=int, default=None, help="override the number of simulated symbols")
    args = ap.parse_args(argv)
    for rec in run(quick=args.quick, tiny=args.tiny, symbols=args.symbols):
        print(json.dumps(rec, ensure_ascii=False, allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
