"""The detectors' fast paths give exactly the records of the straightforward computations.

Issue 8 made the whole-market detector calls faster: records built column-wise, one shared panel
per ``run_detectors`` call, medians over candidate cells only, a cheap screen before the exact volume
median, sparse evaluation of the cliff windows, symbol blocks built one at a time, slice-based
smoothing. Every one of them must be invisible in the output. Here each is compared, bit for bit
and details included, with a reference written the plain way (the code as it was before, where it
is short enough to keep). Data are SYNTHETIC (``anomaly.simulate``, seeded) unless said otherwise.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from anomaly import intraday as I
from anomaly import marketmodel as mm
from anomaly.config import DetectConfig
from anomaly.detect import Context, make_detector, run_detectors
from anomaly.detect import intraday_cliff as ic
from anomaly.schema import anomalies_frame
from anomaly.simulate import Plant, simulate_daily, simulate_market, synthetic_symbols

TZ = "Asia/Shanghai"


# --- exact comparison ---------------------------------------------------------------------------


def _same_obj(a, b, path="") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            r = _same_obj(a[k], b[k], f"{path}.{k}")
            if r:
                return r
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            r = _same_obj(x, y, f"{path}[{i}]")
            if r:
                return r
        return None
    if isinstance(a, float):
        same = (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
        return None if same else f"{path}: {a!r} vs {b!r}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def assert_same_records(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes, order and values (floats bit for bit, details dicts key by key)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b), (len(a), len(b))
    assert a.index.equals(b.index)
    for c in a.columns:
        assert a[c].dtype == b[c].dtype, (c, a[c].dtype, b[c].dtype)
        if a[c].dtype == object:
            for i, (x, y) in enumerate(zip(a[c].tolist(), b[c].tolist())):
                r = _same_obj(x, y, f"{c}[{i}]")
                assert r is None, r
        elif a[c].dtype.kind == "f":
            x, y = a[c].to_numpy(), b[c].to_numpy()
            assert np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y)), c
        else:
            assert a[c].equals(b[c]), c


# --- data -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daily():
    """SYNTHETIC: 120 symbols × 300 days with planted cliffs, spikes and volume surges, plus the index."""
    events = [Plant("cliff", day=None, prob=0.004, depth=(0.06, 0.12), recovery=(0.3, 0.7)),
              Plant("spike", day=None, prob=0.002, depth=(0.06, 0.12)),
              Plant("volume_surge", day=None, prob=0.003, depth=6.0)]
    bars, index_bars, _ = simulate_daily(120, 300, seed=5, events=events, index_id="399001.SZ")
    meta = synthetic_symbols(120).set_index("symbol")
    meta["exchange"] = np.where(meta.index.str.startswith("6"), "SH", "SZ")
    meta["is_st"] = False
    ctx = Context(index_bars=index_bars, benchmark={s: "399001.SZ" for s in meta.index[::2]},
                  meta=meta[["board", "exchange", "is_st"]])
    return bars, ctx


@pytest.fixture(scope="module")
def minute():
    """SYNTHETIC: 40 symbols × 4 days of 1-minute bars, cliffs and spikes at random minutes."""
    events = [Plant("cliff", day=-1, prob=0.3, onset="random", depth=(0.04, 0.10)),
              Plant("spike", day=-2, prob=0.3, onset="random", depth=(0.04, 0.10)),
              Plant("cliff", day=-1, prob=0.2, onset="13:01", depth=0.08, symbols=10)]
    bars, _ = simulate_market(40, 4, "1min", seed=8, events=events)
    return bars


# --- daily ------------------------------------------------------------------------------------------


def test_run_detectors_equals_each_detector_on_its_own(daily):
    """One shared panel, records typed and sorted once: the same frame as detect() one by one."""
    bars, ctx = daily
    dets = [make_detector(n) for n in DetectConfig().daily]
    together = run_detectors(bars, dets, ctx)
    mm.clear_cache()
    one_by_one = anomalies_frame(pd.concat([d.detect(bars, ctx) for d in dets], ignore_index=True))
    assert len(together) > 100
    assert_same_records(together, one_by_one)
    assert str(together["start"].dtype) == f"datetime64[{bars['ts'].dt.unit}, {TZ}]"


def test_row_order_of_the_input_does_not_matter(daily, minute):
    """The already-sorted shortcut (no sort, shared symbol codes) and the sorting path agree."""
    bars, ctx = daily
    dets = [make_detector(n) for n in DetectConfig().daily]
    # symbols in descending order (each symbol's bars still in time order, as validation requires)
    def reorder(b):
        return b.iloc[np.lexsort((b["ts"].to_numpy(), -pd.factorize(b["symbol"], sort=True)[0]))]

    assert_same_records(run_detectors(bars, dets, ctx), run_detectors(reorder(bars), dets, ctx))
    cliff = [make_detector("cliff")]
    assert_same_records(run_detectors(minute, cliff), run_detectors(reorder(minute), cliff))


def test_records_frame_equals_the_record_dicts(daily):
    """Column-wise records = the per-record dicts with Timestamp objects that anomalies_frame parses."""
    bars, ctx = daily
    inp = mm.daily_inputs(bars.sort_values(["symbol", "ts"]).reset_index(drop=True), ctx.index_bars)
    p = inp.panel
    idx = np.arange(0, len(p.bars), 997)
    mag = inp.ret[idx]
    pv = np.where(np.arange(len(idx)) % 3 == 0, np.nan, np.linspace(0, 1, len(idx)))
    pv[1] = np.inf
    det = [{"k": int(i), "x": mm.rounded([inp.ret[i]])[0]} for i in idx]
    new = anomalies_frame(mm.records_frame(p, idx, "vol_surprise", mag, "ewma_vol", mag * 2, pv, det))
    syms, ts = p.bars["symbol"].iloc[idx].tolist(), p.bars["ts"].iloc[idx].tolist()
    old = anomalies_frame([dict(symbol=syms[i], kind="vol_surprise", start=ts[i], end=ts[i], magnitude=float(mag[i]),
                                reference="ewma_vol", score=float(mag[i] * 2),
                                p_value=None if not np.isfinite(pv[i]) else float(pv[i]), details=det[i])
                           for i in range(len(idx))])
    assert_same_records(new, old)
    mm.clear_cache()


def _robust_reference(packed, p, j, window, min_periods):
    """trailing_robust the plain way: one window at a time with np.median."""
    out = np.full((4, len(p)), np.nan)
    for c, (pp, jj) in enumerate(zip(p, j)):
        w = packed[max(pp - window, 0):pp, jj]
        w = w[np.isfinite(w)]
        out[2, c] = len(w)
        if len(w) < max(min_periods, 1):
            continue
        med = np.median(w)
        dev = np.abs(w - med)
        mad = np.median(dev)
        mean = dev.mean()
        out[0, c], out[1, c] = med, mad
        out[3, c] = 1.4826 * mad if mad > 0 else (1.2533 * mean if mean > 0 else np.nan)
    return out


def test_trailing_robust_equals_window_by_window_medians():
    rng = np.random.default_rng(4)
    x = rng.standard_t(3, size=(90, 40))
    x[rng.random(x.shape) < 0.08] = np.nan
    x[30:60, 3] = 2.5                                  # a run of equal values: MAD 0, mean |dev| used
    x[:, 4] = 1.0                                      # constant: both 0, sigma NaN
    p = np.repeat(np.arange(90), 40)
    j = np.tile(np.arange(40), 90)
    for window, minp in ((20, 10), (21, 5), (60, 30)):
        got = np.vstack(mm.trailing_robust(x, p, j, window, minp))
        ref = _robust_reference(x, p, j, window, minp)
        # the mean-absolute-deviation fallback is a sum of the same terms in another order: equal to
        # rounding; everything else exactly
        assert np.array_equal(got[:3], ref[:3], equal_nan=True)
        assert np.allclose(got[3], ref[3], rtol=1e-14, equal_nan=True)
        assert np.array_equal(np.isnan(got[3]), np.isnan(ref[3]))


def test_trailing_median_lower_bound_never_exceeds_the_median():
    rng = np.random.default_rng(9)
    for window in (5, 6, 7, 20, 21, 33):
        x = np.exp(rng.normal(size=(70, 25)))
        x[rng.random(x.shape) < 0.1] = np.nan
        lb = mm.trailing_median_lower_bound(x, window)
        for t in range(70):
            for c in range(25):
                w = x[max(t - window, 0):t, c]
                w = w[np.isfinite(w)]
                if len(w):
                    assert lb[t, c] <= np.median(w)
                else:
                    assert lb[t, c] == 0


def test_volume_screen_drops_no_surge(daily, monkeypatch):
    """The lower-bound screen only skips cells that cannot pass: without it, the same records."""
    from anomaly.detect import volume

    bars, ctx = daily
    for params in ({}, {"ratio_threshold": 1.5, "z_threshold": 1.0}, {"window": 7, "min_periods": 3}):
        det = make_detector("volume_surge", **params)
        fast = det.detect(bars, ctx)
        with monkeypatch.context() as m:
            m.setattr(volume, "trailing_median_lower_bound", lambda packed, window: np.zeros_like(packed))
            mm.clear_cache()
            every_cell = det.detect(bars, ctx)
        mm.clear_cache()
        assert len(fast) > 0
        assert_same_records(fast, every_cell)


def test_assign_benchmarks_equals_symbol_by_symbol():
    from anomaly.rules import DEFAULT_BENCHMARKS, resolve_benchmark

    syms = ["000001", "600000", "300001", "688001", "000002", "600001", "300002", "399001.SZ"]
    info = mm.symbol_info(syms)
    avail = ["399001.SZ", "000001.SH", "399006.SZ"]
    mapping = {"000001": "399006.SZ", "600000": "000300.SH", "300001": "nonsense", "688001": None}
    got = mm.assign_benchmarks(info, avail, mapping, {"SZ.main": "000001.SH"})
    for sym in syms:
        ex, bd = info.at[sym, "exchange"], info.at[sym, "board"]
        want = resolve_benchmark(ex, bd, set(avail), {"SZ.main": "000001.SH"}, DEFAULT_BENCHMARKS)
        explicit = mapping.get(sym)
        if explicit is not None:
            want = explicit if explicit in avail else resolve_benchmark(ex, bd, set(avail), {f"{ex}.{bd}": explicit},
                                                                        DEFAULT_BENCHMARKS)
        assert got[sym] == want, sym


def test_daily_inputs_built_once_per_run_and_released(daily, monkeypatch):
    bars, ctx = daily
    calls = []
    real = mm._daily_inputs
    monkeypatch.setattr(mm, "_daily_inputs", lambda *a: calls.append(1) or real(*a))
    mm.clear_cache()
    run_detectors(bars, [make_detector(n) for n in DetectConfig().daily], ctx)
    assert len(calls) == 1
    assert not mm._scopes() and "inputs" not in mm._CACHE      # nothing kept after the call


# --- intraday ---------------------------------------------------------------------------------------


class _DenseCliff(ic.IntradayCliff):
    """The cliff detector's window scan as it was before the sparse screen: every window of every bar
    evaluated as a full array (the reference for ``IntradayCliff._scan``)."""

    def _scan(self, p, min_move, board, is_st):
        a = I.path_arrays(p)
        prof = I.profile_arrays(p, a, self.lookback_days, flat_profile=not self.tod)
        S, D, B = p.shape
        minutes = p.slots.minutes
        per_min = self.default_daily_vol / math.sqrt(B)
        hist = prof.n_days
        have = (hist > 0) & np.isfinite(prof.level)
        prior = np.where(have, prof.level, per_min)
        n0 = np.where(have, self.prior_bars * np.minimum(hist, 5) / 5.0, max(B // 12, 2))
        lev = I.running_level(a.inc, a.est, prof.shape, prior, n0)
        G = np.zeros((S, D, B + 1))
        np.cumsum(prof.shape, axis=-1, out=G[..., 1:])
        P = a.P
        valid_day = np.isfinite(P[..., :1])
        tick = (0.5 * 0.01 / np.exp(P)) ** 2
        nbars = sorted({max(1, math.ceil(w / minutes)) for w in self.windows})
        recs = []
        for sgn, kind in ((-1.0, "cliff"), (1.0, "spike")):
            if sgn > 0 and not self.spikes:
                continue
            Y = -sgn * P
            cover = np.zeros((S, D, B + 2), dtype=np.int32)
            best = np.full((S, D, B + 1), np.inf)
            best_n = np.zeros((S, D, B + 1), dtype=np.int32)
            for n in nbars:
                if n > B:
                    continue
                mv = Y[..., n:] - Y[..., :-n]
                var = lev[..., :-n] ** 2 * (G[..., n:] - G[..., :-n]) + tick[..., :-n]
                with np.errstate(invalid="ignore", divide="ignore"):
                    z = mv / np.sqrt(var)
                    size = np.expm1(-mv)
                    flag = (z <= -self.z) & (size >= min_move[:, None, None]) & valid_day
                zf = np.where(flag, z, np.inf)
                better = zf < best[..., n:]
                best[..., n:] = np.where(better, zf, best[..., n:])
                best_n[..., n:] = np.where(better, n, best_n[..., n:])
                f = flag.astype(np.int32)
                cover[..., 1:B - n + 2] += f
                cover[..., n + 1:B + 2] -= f
            covered = np.cumsum(cover, axis=-1)[..., :B + 1] > 0
            if covered.any():
                recs.append(self._episodes(p, a, covered, best, best_n, Y.reshape(-1), lev, G, tick.reshape(-1),
                                           sgn, kind, prof, min_move, board, is_st, nbars))
        return recs


@pytest.mark.parametrize("params", [{}, {"z": 4.0, "windows": (1, 3, 7, 60)}, {"tod": False, "spikes": False},
                                    {"bar_freq": "5min", "z": 4.0}])
def test_cliff_sparse_windows_equal_the_dense_scan(minute, params):
    bars = minute
    if params.get("bar_freq") == "5min":
        bars, _ = simulate_market(30, 4, "5min", seed=3, events=[Plant("cliff", day=-1, prob=0.4, onset="random")])
    fast = make_detector("cliff", **params).detect(bars)
    dense = _DenseCliff(**{k: v for k, v in params.items()}).detect(bars)
    assert len(fast) > 0
    assert_same_records(fast, dense)


def test_cliff_symbol_blocks_do_not_change_records(minute, monkeypatch):
    whole = make_detector("cliff").detect(minute)
    monkeypatch.setattr(ic, "_MAX_CELLS", 3 * 4 * 240)      # three symbols per block
    blocks = make_detector("cliff").detect(minute)
    assert_same_records(whole, blocks)


def test_panel_blocks_equal_the_whole_panel(minute):
    clean = I.validate_intraday(minute, "1min")
    whole = I.to_panel(clean, "1min")
    freq, clean2, rows = I.detector_panel(clean)
    assert freq == "1min" and rows.shape == whole.shape
    for lo, hi in ((0, 7), (7, 8), (8, 40)):
        part, ref = rows.chunk(lo, hi), whole.take(np.arange(lo, hi))
        for f in ("open", "high", "low", "close", "volume", "prev_close", "present"):
            assert np.array_equal(getattr(part, f), getattr(ref, f), equal_nan=True), f
        assert list(part.symbols) == list(ref.symbols) and part.days.equals(ref.days)
    shuffled = clean.sample(frac=1.0, random_state=1).reset_index(drop=True)   # to_panel takes any order
    again = I.to_panel(shuffled, "1min")
    assert np.array_equal(again.close, whole.close, equal_nan=True)


def _smooth_reference(a, s):
    h = 2 if s.minutes == 1 else (1 if s.minutes == 5 else 0)
    if h == 0:
        return a
    B = s.n
    special = np.zeros(B, dtype=bool)
    special[[0, s.first_pm, B - 1]] = True
    special |= s.flat
    seg = np.where(special, -1 - np.arange(B), (np.arange(B) >= s.first_pm).astype(np.int64))
    out = np.zeros_like(a)
    jj = np.arange(B)

    def same_seg(k):
        ok = (k >= 0) & (k < B)
        ok[ok] &= seg[k[ok]] == seg[ok]
        return ok

    for o in range(-h, h + 1):
        ok = same_seg(jj + abs(o)) & same_seg(jj - abs(o)) & (~special | (o == 0))
        w = (h + 1 - abs(o)) * ok
        out += w * np.take(a, np.clip(jj + o, 0, B - 1), axis=-1)
    return out


def _trailing_reference(a, lookback):
    c = np.zeros((a.shape[0], a.shape[1] + 1) + a.shape[2:])
    np.cumsum(a, axis=1, out=c[:, 1:])
    d = np.arange(a.shape[1])
    return c[:, d] - c[:, np.maximum(d - lookback, 0)]


@pytest.mark.parametrize("freq", ["1min", "5min", "15min"])
def test_profile_helpers_equal_their_plain_versions(freq):
    s = I.slot_table(freq)
    rng = np.random.default_rng(11)
    for trial in range(6):
        a = np.abs(rng.standard_t(3, size=(6, 5, s.n))) * (rng.random((6, 5, s.n)) < 0.8)
        if trial == 1:
            a[0, 0, 3] = np.inf
        if trial == 2:
            a[1, 2, 7] = np.nan
        if trial == 3:
            a = -a
        if trial == 4:
            a = a[:, ::2]                                  # not contiguous
        with np.errstate(invalid="ignore"):                 # inf − inf and 0 · inf in both versions
            x, y = _smooth_reference(a, s), I._smooth(a, s)
        assert np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y))
        for lb in (0, 1, 3, 5, 20):
            with np.errstate(invalid="ignore"):
                x, y = _trailing_reference(a, lb), I._trailing(a, lb)
            assert np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y))
            ok = rng.random(a.shape) < 0.6
            x = _smooth_reference(_trailing_reference(ok.astype(np.float64), lb), s)
            assert np.array_equal(x, I._smooth_counts(ok, lb, s))


def test_day_codes_and_frequency_equal_sorting_versions(minute):
    ns = I._ts_ns(minute["ts"])
    day, minute_of_day, _ = I._wall(ns)
    codes, days = I._day_codes(day)
    udays, inv = np.unique(day, return_inverse=True)
    assert np.array_equal(days, udays) and np.array_equal(codes, inv)
    assert I._freq_of_minutes(minute_of_day) == I.infer_freq(minute) == "1min"
    five = minute[minute["ts"].dt.minute % 5 == 0]
    assert I.infer_freq(five) == "5min"
