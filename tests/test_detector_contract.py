"""The detector contract, run against EVERY registered detector (daily and intraday).

Daily detectors get real bars from the bundled sample (002230 and a few panel stocks, incl. a
mid-sample IPO and ChiNext/STAR names) with the sample's indices as context. Intraday detectors get
seeded synthetic minute bars from ``anomaly.simulate.simulate_market`` (skipped, with the reason, only
when that module is not importable).

Contract: canonical output schema and JSON-able details, kinds as declared; deterministic; no
look-ahead (dropping later bars changes no earlier record); records do not depend on history older
than the detector's ``lookback_days`` (daily); suspended (NaN) and missing days are handled; empty and
tiny frames; parameters round-trip through ``make_detector``; bad input is ``BadInput``.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import anomaly.detect as detect
from anomaly.detect import Context, make_detector
from anomaly.errors import BadInput
from anomaly.schema import ANOMALY_COLUMNS

TZ = "Asia/Shanghai"
NAMES = sorted(detect.REGISTRY)
DAILY = [n for n in NAMES if detect.REGISTRY[n].freq == "daily"]
STOCKS = ["002230", "000002", "300010", "688603", "600150", "002432"]


# --- inputs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daily_case():
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    idx = b[b["symbol"].str.contains(r"\.")]
    bars = b[b["symbol"].isin(STOCKS) & (b["ts"] >= pd.Timestamp("2022-03-01", tz=TZ))
             & (b["ts"] <= pd.Timestamp("2024-03-29", tz=TZ))].reset_index(drop=True)
    return bars, Context(index_bars=idx)


@pytest.fixture(scope="module")
def intraday_case():
    try:
        from anomaly.simulate import simulate_market
    except ImportError as exc:  # pragma: no cover - only while the module is being written
        pytest.skip(f"anomaly.simulate is not importable ({exc}); intraday detectors need minute bars")
    from anomaly.simulate import Plant

    # 3 synthetic symbols × 24 days of 1-minute bars, with a planted cliff and spike so the
    # intraday detectors have something to report
    bars, _ = simulate_market(n_symbols=3, n_days=24, freq="1min", seed=5,
                              events=[Plant("cliff", day=-3, symbols=1, prob=1.0, onset="13:01"),
                                      Plant("spike", day=-9, symbols=2, prob=1.0, onset="10:15")])
    return bars.reset_index(drop=True), Context()


def case_for(name, request):
    cls = detect.REGISTRY[name]
    return request.getfixturevalue("daily_case" if cls.freq == "daily" else "intraday_case")


def run(name, bars, ctx, **params):
    return make_detector(name, **params).detect(bars, ctx)


def keyed(df: pd.DataFrame) -> list[tuple]:
    """Records as comparable tuples (floats rounded, details as sorted JSON)."""
    out = []
    for r in df.itertuples(index=False):
        out.append((r.symbol, r.kind, r.start.isoformat(), r.end.isoformat(), _f(r.magnitude), r.reference,
                    _f(r.score), _f(r.p_value), json.dumps(r.details, sort_keys=True, default=str)))
    return sorted(out)


def _f(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 9)


def day_of(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()


# --- the contract -----------------------------------------------------------------------------------


def test_registry_holds_the_daily_detectors():
    assert {"range", "abnormal_return", "vol_surprise", "volume_surge", "limits", "deviation", "lhb"} <= set(DAILY)
    for name in NAMES:
        cls = detect.REGISTRY[name]
        assert cls.name == name and cls.freq in ("daily", "intraday") and cls.kinds


@pytest.mark.parametrize("name", NAMES)
def test_schema_kinds_and_json_details(name, request):
    bars, ctx = case_for(name, request)
    out = run(name, bars, ctx)
    assert list(out.columns) == ANOMALY_COLUMNS
    assert set(out["kind"]) <= set(detect.REGISTRY[name].kinds)
    if len(out):
        assert str(out["start"].dt.tz) == TZ and str(out["end"].dt.tz) == TZ
        assert (out["end"] >= out["start"]).all()
        assert out["reference"].map(lambda v: isinstance(v, str) and v != "").all()
        assert np.isfinite(out["magnitude"]).all()
        assert set(out["symbol"]) <= set(bars["symbol"])
        for d in out["details"]:
            json.dumps(d, allow_nan=False, default=str)
        p = out["p_value"].dropna()
        assert ((p >= 0) & (p <= 1)).all()
    if detect.REGISTRY[name].freq == "daily":
        assert len(out) > 0, f"{name} found nothing in two years of six real stocks"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, request):
    bars, ctx = case_for(name, request)
    a = keyed(run(name, bars, ctx))
    mixed = bars.sort_values(["ts", "symbol"], ascending=[True, False], kind="stable")
    b = keyed(run(name, mixed, ctx))      # interleaved symbols (time order within each is required)
    assert a == b


@pytest.mark.parametrize("name", NAMES)
def test_no_look_ahead(name, request):
    bars, ctx = case_for(name, request)
    days = np.sort(day_of(bars["ts"]).unique())
    full = run(name, bars, ctx)
    for cut in (days[len(days) // 2], days[-4]):
        part = run(name, bars[day_of(bars["ts"]) <= cut], ctx)
        before = full[day_of(full["start"]) <= cut]
        assert keyed(part) == keyed(before), f"{name}: truncating after {cut} changed earlier records"


@pytest.mark.parametrize("name", DAILY)
def test_history_beyond_lookback_does_not_matter(name, daily_case):
    bars, ctx = daily_case
    det = make_detector(name)
    lb = det.history_days(0)
    days = np.sort(day_of(bars["ts"]).unique())
    drop = 60
    shorter = bars[day_of(bars["ts"]) >= days[drop]]
    first_checked = days[drop + lb] if drop + lb < len(days) else days[-1]
    a = run(name, bars, ctx)
    b = run(name, shorter, ctx)
    keep = lambda df: df[day_of(df["start"]) >= first_checked]  # noqa: E731
    assert keyed(keep(a)) == keyed(keep(b)), f"{name}: records depend on history older than {lb} days"


def test_cliff_records_do_not_depend_on_history_older_than_it_loads():
    """The pipeline loads ``history_days`` before a day; records of that day must not change when more
    history is given (SYNTHETIC minute bars with a planted cliff on 2023-05-24)."""
    import datetime as dt

    from anomaly import calendar
    from anomaly.sources.synthetic import SyntheticSource
    from anomaly.symbols import resolve

    det = make_detector("cliff")
    day = dt.date(2023, 5, 24)
    need = det.history_days(0)
    src = SyntheticSource(seed=7)
    just_enough = src.intraday_bars(resolve("002230"), calendar.previous_trading_day(day, need).date(), day, "1min")
    plenty = src.intraday_bars(resolve("002230"), calendar.previous_trading_day(day, 3 * need).date(), day, "1min")
    on_day = lambda df: df[day_of(df["start"]) == np.datetime64(day)]  # noqa: E731
    a, b = on_day(det.detect(just_enough)), on_day(det.detect(plenty))
    assert len(a) == len(b) == 1 and a.iloc[0]["kind"] == b.iloc[0]["kind"] == "cliff"
    ra, rb = a.iloc[0], b.iloc[0]
    assert (ra["start"], ra["end"]) == (rb["start"], rb["end"])
    assert ra["score"] == pytest.approx(rb["score"], rel=1e-9)      # trailing sums differ in the last bits
    for k, v in ra["details"].items():
        assert (rb["details"][k] == pytest.approx(v, rel=1e-9)) if isinstance(v, float) else rb["details"][k] == v, k


@pytest.mark.parametrize("name", NAMES)
def test_suspended_nan_and_missing_days(name, request):
    bars, ctx = case_for(name, request)
    b = bars.copy()
    sym = b["symbol"].iloc[0]
    rows = np.flatnonzero((b["symbol"] == sym).to_numpy())
    nan_rows = rows[len(rows) // 2: len(rows) // 2 + 3]
    b.loc[b.index[nan_rows], ["open", "high", "low", "close"]] = np.nan      # suspended: no prices
    gone = rows[len(rows) // 3: len(rows) // 3 + 2]
    b = b.drop(index=b.index[gone])                                          # missing bars
    out = run(name, b, ctx)
    assert list(out.columns) == ANOMALY_COLUMNS
    bad_ts = set(bars["ts"].iloc[nan_rows]) | set(bars["ts"].iloc[gone])
    mine = out[out["symbol"] == sym]
    assert not (set(mine["start"]) & bad_ts), f"{name} reported a record on a suspended/missing bar"


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_tiny_frames(name, request):
    bars, ctx = case_for(name, request)
    assert run(name, bars.iloc[0:0], ctx).empty
    tiny = bars[bars["symbol"] == bars["symbol"].iloc[0]].iloc[:3]
    out = run(name, tiny, ctx)
    assert list(out.columns) == ANOMALY_COLUMNS


@pytest.mark.parametrize("name", NAMES)
def test_params_roundtrip_and_lookback(name):
    det = make_detector(name)
    again = make_detector(name, **det.params())
    assert again.params() == det.params()
    lb = getattr(det, "lookback_days", None)
    assert isinstance(lb, int) and lb >= 1


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_badinput(name, request):
    bars, ctx = case_for(name, request)
    with pytest.raises(BadInput):
        run(name, bars.drop(columns=["close"]), ctx)
    with pytest.raises(BadInput):
        run(name, "not a frame", ctx)


@pytest.mark.parametrize("name", DAILY)
def test_daily_detectors_are_vectorised_over_symbols(name, daily_case):
    # one call on the panel == one call per symbol (no cross-symbol leakage)
    bars, ctx = daily_case
    together = keyed(run(name, bars, ctx))
    apart = sorted(sum((keyed(run(name, bars[bars["symbol"] == s], ctx)) for s in STOCKS), []))
    assert together == apart


LITERAL = [
    # date,        open,  high,  low,   close, prev  — a tiny main-board path with limit days
    ("2023-03-01", 10.00, 10.10, 9.90, 10.00, 10.00),
    ("2023-03-02", 10.20, 11.00, 10.10, 11.00, 10.00),   # 10 % limit-up close
    ("2023-03-03", 11.00, 11.20, 9.90, 10.00, 11.00),    # touched limit-down 9.90, closed above
    ("2023-03-06", np.nan, np.nan, np.nan, np.nan, 10.00),  # suspended
    ("2023-03-07", 10.00, 10.30, 9.80, 10.10, 10.00),
]


@pytest.mark.parametrize("name", DAILY)
def test_literal_limit_days(name, daily_case):
    _, ctx = daily_case
    df = pd.DataFrame(LITERAL, columns=["date", "open", "high", "low", "close", "prev_close"])
    df.insert(0, "symbol", "600000")
    df.insert(1, "ts", (pd.to_datetime(df.pop("date")) + pd.Timedelta(hours=15)).dt.tz_localize(TZ))
    df["volume"], df["amount"], df["turnover"] = 1e6, 1e7, 1.0
    out = run(name, df, ctx)
    assert list(out.columns) == ANOMALY_COLUMNS
    assert not (out["start"] == df["ts"].iloc[3]).any()
    if name == "limits":
        got = {(r.start.strftime("%F"), r.kind, r.details["limit_price"]) for r in out.itertuples()}
        assert got == {("2023-03-02", "limit_up_close", 11.00), ("2023-03-03", "limit_down_touch", 9.90)}
