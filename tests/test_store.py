"""The embedded store: idempotent incremental fetches, atomic writes, locks, safe names, SQL params."""
from __future__ import annotations

import datetime as dt
import errno
import json
import os
import threading
import time

import pandas as pd
import pytest

from anomaly.calendar import trading_days
from anomaly.errors import AnomalyError, BadInput, StoreLocked
from anomaly.fetch import fetch as fetch_into
from anomaly.schema import BAR_COLUMNS, anomalies_frame
from anomaly.sources.sample import SampleSource
from anomaly.store import Store, default_store_path, missing_spans
from anomaly.symbols import resolve

TZ = "Asia/Shanghai"
D = dt.date.fromisoformat


class RecordingSample(SampleSource):
    """The bundled sample, remembering which spans were asked."""

    def __init__(self):
        self.asked: list[tuple[str, dt.date, dt.date]] = []

    def bars(self, symbol, start, end, freq="daily"):
        self.asked.append((symbol.id, start, end))
        return super().bars(symbol, start, end, freq)


def fetch_cmd(store, start="2023-01-01", end="2023-06-30", *extra):
    return ["fetch", "002230", "--start", start, "--end", end, "--source", "sample", "--store", str(store), *extra]


def n_days(a: str, b: str) -> int:
    return len(trading_days(a, b))


def visible_tmp_files(root) -> list[str]:
    return [str(p) for p in root.rglob(".tmp-*")]


def sample_news():
    return SampleSource().news(None, D("2023-05-01"), D("2023-05-31"))


# --- fetch: idempotent and incremental ----------------------------------------------------------

def test_second_fetch_changes_nothing(run_cli, tmp_path, snapshot):
    store = tmp_path / "st"
    r1 = run_cli(fetch_cmd(store))
    assert r1.code == 0, r1.err
    assert f"{n_days('2023-01-01', '2023-06-30')} bars for 2023-01-03..2023-06-30" in r1.out
    assert (store / "bars" / "daily" / "002230.parquet").is_file()
    snapshot.age(store)
    before = snapshot(store)
    r2 = run_cli(fetch_cmd(store))
    assert r2.code == 0, r2.err
    assert "nothing new" in r2.out
    assert snapshot(store) == before  # no file rewritten, touched, added or removed


def test_second_fetch_json_says_nothing_asked(run_cli, tmp_path):
    store = tmp_path / "st"
    assert run_cli(fetch_cmd(store)).code == 0
    r = run_cli(fetch_cmd(store, "2023-01-01", "2023-06-30", "--format", "json"))
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)
    assert row["symbol"] == "002230" and row["asked"] == "nothing new"
    assert row["rows"] == 0 and row["files_written"] == 0 and row["error"] == ""


def test_refresh_of_identical_data_writes_nothing(run_cli, tmp_path, snapshot):
    store = tmp_path / "st"
    assert run_cli(fetch_cmd(store, "2023-01-01", "2023-03-31")).code == 0
    snapshot.age(store)
    before = snapshot(store)
    r = run_cli(fetch_cmd(store, "2023-01-01", "2023-03-31", "--refresh", "--format", "json"))
    assert r.code == 0, r.err
    (row,) = json.loads(r.out)
    assert row["asked"] == "2023-01-03..2023-03-31" and row["files_written"] == 0
    assert snapshot(store) == before


def test_store_bars_equal_sample_bars(run_cli, tmp_path):
    store = tmp_path / "st"
    assert run_cli(fetch_cmd(store)).code == 0
    window = ["002230", "--start", "2023-05-22", "--end", "2023-05-26", "--format", "json"]
    from_store = run_cli(["bars", *window, "--store", str(store)])
    explicit = run_cli(["bars", *window, "--source", "store", "--store", str(store)])
    from_sample = run_cli(["bars", *window, "--source", "sample"])
    assert from_store.code == explicit.code == from_sample.code == 0, from_store.err + explicit.err
    assert len(json.loads(from_sample.out)) == 5
    assert json.loads(from_store.out) == json.loads(from_sample.out) == json.loads(explicit.out)


def test_store_frame_equals_sample_frame(tmp_store, sample_bars):
    sym = resolve("002230")
    fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-06-30"))
    got = tmp_store.bars(["002230"], D("2023-01-01"), D("2023-06-30"))
    want = sample_bars[(sample_bars["symbol"] == "002230")
                       & sample_bars["ts"].between(pd.Timestamp("2023-01-01", tz=TZ), pd.Timestamp("2023-07-01", tz=TZ))]
    assert list(got.columns) == BAR_COLUMNS
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    assert str(got["ts"].dt.tz) == TZ


def test_incremental_fetch_asks_only_missing_spans(tmp_store):
    src, sym = RecordingSample(), resolve("002230")
    (r1,) = fetch_into(tmp_store, src, [sym], D("2023-03-01"), D("2023-03-31"))
    assert r1.ok and r1.spans == [(D("2023-03-01"), D("2023-03-31"))]
    assert r1.rows == n_days("2023-03-01", "2023-03-31")

    (r2,) = fetch_into(tmp_store, src, [sym], D("2023-01-01"), D("2023-06-30"))
    assert r2.ok
    assert r2.spans == [(D("2023-01-03"), D("2023-02-28")), (D("2023-04-03"), D("2023-06-30"))]
    assert r2.rows == n_days("2023-01-03", "2023-02-28") + n_days("2023-04-03", "2023-06-30")
    assert r2.files_written == 1
    assert src.asked[1:] == [("002230", D("2023-01-03"), D("2023-02-28")),
                             ("002230", D("2023-04-03"), D("2023-06-30"))]

    (r3,) = fetch_into(tmp_store, src, [sym], D("2023-02-01"), D("2023-05-31"))
    assert r3.ok and r3.spans == [] and r3.rows == 0 and r3.files_written == 0
    assert len(src.asked) == 3  # nothing asked the third time

    stored = tmp_store.bars(["002230"], D("2023-01-01"), D("2023-06-30"))
    assert len(stored) == n_days("2023-01-01", "2023-06-30") and stored["ts"].is_unique
    cov = tmp_store.coverage("002230")
    assert cov[0][0] == "2023-01-03" and cov[-1][1] == "2023-06-30"
    assert missing_spans(cov, trading_days("2023-01-01", "2023-06-30")) == []


def test_incremental_fetch_printed_spans(run_cli, tmp_path):
    store = tmp_path / "st"
    assert run_cli(fetch_cmd(store)).code == 0
    r = run_cli(fetch_cmd(store, "2022-12-01", "2023-07-31"))
    assert r.code == 0, r.err
    assert "2022-12-01..2022-12-30, 2023-07-03..2023-07-31" in r.out
    assert f"{n_days('2022-12-01', '2022-12-30') + n_days('2023-07-03', '2023-07-31')} bars" in r.out


@pytest.mark.parametrize("covered,days,expected", [
    ([], ("2023-06-20", "2023-06-27"), [("2023-06-20", "2023-06-27")]),
    ([["2023-06-20", "2023-06-27"]], ("2023-06-20", "2023-06-27"), []),
    ([["2023-06-21", "2023-06-26"]], ("2023-06-20", "2023-06-27"), [("2023-06-20", "2023-06-20"),
                                                                     ("2023-06-27", "2023-06-27")]),
    # the holiday between two covered runs is not a gap
    ([["2023-06-20", "2023-06-21"], ["2023-06-26", "2023-06-27"]], ("2023-06-20", "2023-06-27"), []),
    ([["2023-06-26", "2023-06-26"]], ("2023-06-20", "2023-06-27"), [("2023-06-20", "2023-06-21"),
                                                                     ("2023-06-27", "2023-06-27")]),
])
def test_missing_spans(covered, days, expected):
    got = missing_spans(covered, trading_days(*days))
    assert got == [(D(a), D(b)) for a, b in expected]


def test_empty_answer_is_covered_too(tmp_store):
    # A span the source answers with no rows (e.g. a suspension) is recorded as asked.
    class Empty(SampleSource):
        def bars(self, symbol, start, end, freq="daily"):
            return super().bars(symbol, start, end, freq).iloc[0:0]

    sym = resolve("002230")
    (r,) = fetch_into(tmp_store, Empty(), [sym], D("2023-05-22"), D("2023-05-26"))
    assert r.ok and r.rows == 0
    (again,) = fetch_into(tmp_store, Empty(), [sym], D("2023-05-22"), D("2023-05-26"))
    assert again.spans == []


# --- a failed or killed writer loses nothing ----------------------------------------------------

def _stored_002230(store: Store) -> pd.DataFrame:
    return store.bars(["002230"], D("2023-01-01"), D("2023-12-31"))


def _boom_replace(exc):
    def replace(src, dst):
        raise exc
    return replace


def test_failed_replace_leaves_store_unchanged(tmp_store, monkeypatch, snapshot):
    sym = resolve("002230")
    fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-03-31"))
    before, frame_before = snapshot(tmp_store.root), _stored_002230(tmp_store)

    monkeypatch.setattr(os, "replace", _boom_replace(OSError(errno.EIO, "simulated I/O error")))
    (r,) = fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-06-30"))
    monkeypatch.undo()

    assert not r.ok and "002230.parquet" in r.error
    assert snapshot(tmp_store.root) == before
    assert visible_tmp_files(tmp_store.root) == []
    pd.testing.assert_frame_equal(_stored_002230(tmp_store), frame_before)
    assert tmp_store.coverage("002230") == [["2023-01-03", "2023-03-31"]]


def test_disk_full_is_reported_and_store_unchanged(tmp_store, monkeypatch, snapshot):
    sym = resolve("002230")
    fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-03-31"))
    before = snapshot(tmp_store.root)
    monkeypatch.setattr(os, "replace", _boom_replace(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(AnomalyError, match="disk full"):
        tmp_store.write_news(sample_news())
    monkeypatch.undo()
    assert snapshot(tmp_store.root) == before and visible_tmp_files(tmp_store.root) == []


def test_killed_writer_keeps_old_file_and_readers_work(tmp_store, monkeypatch):
    sym = resolve("002230")
    fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-03-31"))
    path = tmp_store.root / "bars" / "daily" / "002230.parquet"
    old_bytes, frame_before = path.read_bytes(), _stored_002230(tmp_store)

    monkeypatch.setattr(os, "replace", _boom_replace(KeyboardInterrupt()))  # dies between write and rename
    with pytest.raises(KeyboardInterrupt):
        fetch_into(tmp_store, SampleSource(), [sym], D("2023-01-01"), D("2023-06-30"))
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    reader = Store(tmp_store.root)
    pd.testing.assert_frame_equal(_stored_002230(reader), frame_before)
    assert reader.symbols() == ["002230"]
    q = reader.query("SELECT count(*) AS n FROM bars_daily")
    assert int(q["n"].iloc[0]) == len(frame_before)
    # and the next run completes the job
    (r,) = fetch_into(reader, SampleSource(), [sym], D("2023-01-01"), D("2023-06-30"))
    assert r.ok and len(_stored_002230(reader)) == n_days("2023-01-01", "2023-06-30")


def test_interrupted_write_leaves_no_temp_file(tmp_store, monkeypatch):
    # An interrupt (Ctrl-C, SystemExit from a SIGTERM handler) between writing the temporary file
    # and renaming it must not leave the .tmp-* file behind in the store for ever.
    tmp_store.write_news(sample_news().iloc[:3])
    monkeypatch.setattr(os, "replace", _boom_replace(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        tmp_store.write_news(sample_news())
    monkeypatch.undo()
    assert visible_tmp_files(tmp_store.root) == []


def test_killed_run_keeps_symbols_already_written(tmp_store):
    class DiesOnIndex(SampleSource):
        def bars(self, symbol, start, end, freq="daily"):
            if symbol.kind == "index":
                raise KeyboardInterrupt
            return super().bars(symbol, start, end, freq)

    with pytest.raises(KeyboardInterrupt):
        fetch_into(tmp_store, DiesOnIndex(), [resolve("002230"), resolve("399001")], D("2023-05-01"), D("2023-05-31"))
    assert len(_stored_002230(tmp_store)) == n_days("2023-05-01", "2023-05-31")
    assert tmp_store.coverage("002230") == [["2023-05-04", "2023-05-31"]]
    assert tmp_store.coverage("399001.SZ") == []


def test_partial_failure_keeps_good_symbols(run_cli, tmp_path):
    store = tmp_path / "st"
    # 300750 is a real code but not in the bundled sample → that symbol fails, 002230 is stored
    r = run_cli(["fetch", "002230", "300750", "--start", "2023-05-22", "--end", "2023-05-26",
                 "--source", "sample", "--store", str(store)])
    assert r.code == 1
    assert "300750: FAILED" in r.out
    assert "002230: 5 bars" in r.out
    assert (store / "bars" / "daily" / "002230.parquet").is_file()
    assert not (store / "bars" / "daily" / "300750.parquet").exists()


# --- news and results ---------------------------------------------------------------------------

def test_write_news_twice_adds_nothing(tmp_store, snapshot):
    news = sample_news()
    assert len(news) > 0
    assert tmp_store.write_news(news) == len(news)
    snapshot.age(tmp_store.root)
    before = snapshot(tmp_store.root)
    assert tmp_store.write_news(news) == 0
    assert tmp_store.write_news(news.iloc[::-1]) == 0
    assert snapshot(tmp_store.root) == before
    back = tmp_store.news(None, D("2023-05-01"), D("2023-05-31"))
    assert sorted(back["id"]) == sorted(news["id"])
    assert str(back["ts"].dt.tz) == TZ


def test_write_news_adds_only_new_ids(tmp_store):
    news = sample_news()
    assert tmp_store.write_news(news.iloc[:4]) == 4
    assert tmp_store.write_news(news) == len(news) - 4
    assert len(tmp_store.news(None, D("2023-05-01"), D("2023-05-31"))) == len(news)


def test_news_by_symbol_includes_market_wide(tmp_store):
    news = sample_news()
    tmp_store.write_news(news)
    mine = tmp_store.news("002230", D("2023-05-01"), D("2023-05-31"))
    assert set(mine["symbol"].dropna()) <= {"002230"}
    assert len(mine) == int(((news["symbol"] == "002230") | news["symbol"].isna()).sum())
    only = tmp_store.news("002230", D("2023-05-01"), D("2023-05-31"), include_market=False)
    assert (only["symbol"] == "002230").all()


def _result_records():
    at = pd.Timestamp("2023-05-24 15:00", tz=TZ)
    an = anomalies_frame([{"symbol": "002230", "kind": "intraday_range_drop", "start": at, "end": at,
                           "magnitude": -0.0946, "reference": "prev_close", "score": 5.1, "p_value": None,
                           "details": {"low": 53.5, "prev_close": 59.09}}])
    ev = [{"id": "002230@2023-05-24", "symbol": "002230", "date": "2023-05-24", "verdict": "news_linked",
           "severity": 3.2, "explanation": "科大讯飞 fell 9.46 % intraday", "news": []}]
    return an, ev


def test_write_results_is_idempotent(tmp_store, snapshot):
    an, ev = _result_records()
    day = D("2023-05-24")
    tmp_store.write_results(day, an, ev)
    snapshot.age(tmp_store.root)
    before = snapshot(tmp_store.root)
    tmp_store.write_results(day, an, ev)
    assert snapshot(tmp_store.root) == before
    assert tmp_store.events() == ev
    q = tmp_store.query("SELECT symbol, kind, magnitude, details FROM anomalies")
    assert len(q) == 1 and q["kind"].iloc[0] == "intraday_range_drop"
    assert json.loads(q["details"].iloc[0]) == {"low": 53.5, "prev_close": 59.09}


def test_write_results_replaces_never_appends(tmp_store):
    an, ev = _result_records()
    day = D("2023-05-24")
    tmp_store.write_results(day, an, ev)
    tmp_store.write_results(day, an.iloc[0:0], [])
    assert tmp_store.events() == []
    assert len(tmp_store.query("SELECT * FROM anomalies")) == 0
    assert tmp_store.events(D("2023-05-25"), D("2023-05-31")) == []


# --- queries ------------------------------------------------------------------------------------

@pytest.fixture
def filled_store(tmp_store):
    fetch_into(tmp_store, SampleSource(), [resolve("002230"), resolve("399001")], D("2023-05-01"), D("2023-05-31"))
    tmp_store.write_news(sample_news())
    return tmp_store


def test_query_with_params(filled_store):
    q = filled_store.query("SELECT count(*) AS n FROM bars_daily WHERE symbol = ?", ["002230"])
    assert int(q["n"].iloc[0]) == n_days("2023-05-01", "2023-05-31")
    q = filled_store.query("SELECT close FROM bars_daily WHERE symbol = ? AND close < ?", ["002230", 56.0])
    assert sorted(q["close"]) == sorted(x for x in filled_store.bars(["002230"], D("2023-05-01"), D("2023-05-31"))["close"] if x < 56)


@pytest.mark.parametrize("evil", ["002230' OR '1'='1", "x'; DROP VIEW bars_daily; --", "' UNION SELECT 1 --"])
def test_query_params_are_not_sql(filled_store, snapshot, evil):
    before = snapshot(filled_store.root)
    q = filled_store.query("SELECT * FROM bars_daily WHERE symbol = ?", [evil])
    assert len(q) == 0
    assert snapshot(filled_store.root) == before
    n = filled_store.query("SELECT count(*) AS n FROM bars_daily")["n"].iloc[0]
    assert int(n) == 2 * n_days("2023-05-01", "2023-05-31")


def test_query_store_path_with_quote(tmp_path):
    s = Store(tmp_path / "it's a store")
    fetch_into(s, SampleSource(), [resolve("002230")], D("2023-05-22"), D("2023-05-26"))
    assert int(s.query("SELECT count(*) AS n FROM bars_daily")["n"].iloc[0]) == 5


def test_query_times_are_shanghai(filled_store):
    # A daily bar ends 15:00 Shanghai time; SQL over the store must say so (not 07:00 UTC).
    hm = filled_store.query("SELECT DISTINCT strftime(ts, '%H:%M') AS hm FROM bars_daily")
    assert hm["hm"].tolist() == ["15:00"]
    q = filled_store.query("SELECT ts FROM bars_daily WHERE symbol = ? ORDER BY ts LIMIT 1", ["002230"])
    first = pd.Timestamp(q["ts"].iloc[0])
    assert first.tzinfo is not None, f"naive timestamp {first} from Store.query"
    assert first == pd.Timestamp("2023-05-04 15:00", tz=TZ)


# --- names, folders, locks ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../x", "..", ".", "a/b", "x" * 40, "", "002230\n", "/etc/passwd"])
def test_unsafe_symbol_names_refused(tmp_store, bad):
    with pytest.raises(BadInput, match="unsafe"):
        tmp_store.bars([bad], D("2023-05-22"), D("2023-05-26"))
    frame = pd.DataFrame(columns=BAR_COLUMNS)
    with pytest.raises(BadInput, match="unsafe"):
        tmp_store.write_bars(frame, "daily", {bad: [(D("2023-05-22"), D("2023-05-26"))]})
    with pytest.raises(BadInput, match="unsafe"):
        tmp_store.coverage(bad)
    assert not (tmp_store.root.parent / "x.parquet").exists()
    assert list(tmp_store.root.rglob("*.parquet")) == []


def test_unsafe_frequency_refused(tmp_store):
    with pytest.raises(BadInput, match="unsafe"):
        tmp_store.bars(["002230"], D("2023-05-24"), D("2023-05-24"), freq="../x")


def test_store_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(BadInput, match="not a folder"):
        Store(f)


def test_store_not_created_by_reading(tmp_path):
    s = Store(tmp_path / "nowhere")
    assert s.bars(["002230"], D("2023-05-22"), D("2023-05-26")).empty
    assert s.news("002230", D("2023-05-22"), D("2023-05-26")).empty
    assert s.events() == [] and s.coverage("002230") == [] and s.symbols() == []
    assert not (tmp_path / "nowhere").exists()


def test_store_create_false(tmp_path):
    s = Store(tmp_path / "nowhere", create=False)
    with pytest.raises(BadInput, match="no store"):
        s.write_news(sample_news())
    assert not (tmp_path / "nowhere").exists()


def test_store_marker(tmp_store):
    tmp_store.write_news(sample_news())
    assert json.loads((tmp_store.root / "store.json").read_text()) == {"format": 1}


def test_default_store_path(monkeypatch, tmp_path):
    monkeypatch.setenv("ANOMALY_STORE", str(tmp_path / "env-store"))
    assert default_store_path() == tmp_path / "env-store"
    monkeypatch.delenv("ANOMALY_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "anomaly" / "store"


def test_second_writer_times_out(tmp_store):
    other = Store(tmp_store.root)
    with tmp_store.write_lock():
        with pytest.raises(StoreLocked, match="locked"):
            with other.write_lock(wait=0.2):
                pass
    with other.write_lock(wait=0.2):  # released
        pass


def test_writer_waits_for_lock_then_writes(tmp_store):
    other = Store(tmp_store.root)
    done: list[int] = []
    with tmp_store.write_lock():
        t = threading.Thread(target=lambda: done.append(other.write_news(sample_news())))
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and done == []
        assert not (tmp_store.root / "news").exists()
    t.join(10)
    assert done == [len(sample_news())]


def test_lock_released_after_error(tmp_store):
    with pytest.raises(RuntimeError):
        with tmp_store.write_lock():
            raise RuntimeError("boom")
    with Store(tmp_store.root).write_lock(wait=0.1):
        pass


def test_scan_lock(tmp_store):
    other = Store(tmp_store.root)
    with tmp_store.scan_lock():
        with pytest.raises(StoreLocked, match="scan"):   # fails at once: a scan never waits for a scan
            with other.scan_lock():
                pass
        with other.write_lock(wait=0.1):  # the scan lock does not block ordinary writers
            pass
    with other.scan_lock():
        pass
