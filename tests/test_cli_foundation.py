"""The CLI contract on the foundation commands: bars, fetch, symbols, calendar.

Exit codes 0 / 1 / 2; bad input is one stderr line, an empty stdout and an untouched store;
``--format json`` is exactly one JSON document on stdout; the common options work after the
command name on every command.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from anomaly.cli import cli

WEEK = ["--start", "2023-05-22", "--end", "2023-05-26"]
COMMON = {"store_path": "--store", "source": "--source", "config_path": "--config", "verbose": "--verbose"}


def bars_json(run_cli, symbol, *extra):
    r = run_cli(["bars", symbol, *WEEK, "--source", "sample", "--format", "json", *extra])
    assert r.code == 0, r.err
    return json.loads(r.out)


def assert_bad_input(r, *needles):
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    assert "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    for n in needles:
        assert n in r.err, (n, r.err)


# --- bars on the bundled sample -----------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["002230", "科大讯飞", "sz002230", "002230.SZ", "SZ002230"])
def test_bars_20230524(run_cli, spelling):
    rows = bars_json(run_cli, spelling)
    assert len(rows) == 5
    assert [r["ts"][:10] for r in rows] == ["2023-05-22", "2023-05-23", "2023-05-24", "2023-05-25", "2023-05-26"]
    day = {r["ts"]: r for r in rows}["2023-05-24T15:00:00+08:00"]
    assert day["symbol"] == "002230"
    assert (day["open"], day["high"], day["low"], day["close"], day["prev_close"]) == (59.08, 59.56, 53.50, 56.57, 59.09)
    assert day["volume"] == 110471900
    assert day["low"] / day["prev_close"] - 1 == pytest.approx(-0.0946, abs=5e-5)   # the −9.46 % flash crash
    assert day["close"] / day["prev_close"] - 1 == pytest.approx(-0.0426, abs=5e-5)  # closed −4.26 %
    assert day["volume"] / rows[1]["volume"] == pytest.approx(2.45, abs=0.005)       # 2.45× the previous day


def test_bars_index_399001(run_cli):
    rows = bars_json(run_cli, "399001")
    assert len(rows) == 5 and {r["symbol"] for r in rows} == {"399001.SZ"}
    assert all(10_000 < r[k] < 12_000 for r in rows for k in ("open", "high", "low", "close"))
    day = rows[2]
    assert day["ts"] == "2023-05-24T15:00:00+08:00"
    assert day["close"] / day["prev_close"] - 1 == pytest.approx(-0.0084, abs=5e-5)  # 深证成指 −0.84 %


def test_bars_000001_stock_vs_index(run_cli):
    r = run_cli(["bars", "sh000001", *WEEK, "--source", "sample", "--format", "json"])
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert {x["symbol"] for x in rows} == {"000001.SH"} and all(x["close"] > 3000 for x in rows)
    # plain 000001 is 平安银行, which the sample does not hold: it must not silently serve the index
    stock = run_cli(["bars", "000001", *WEEK, "--source", "sample", "--format", "json"])
    assert stock.code == 2 and "000001" in stock.err and stock.out == ""


def test_bars_skip_holiday(run_cli):
    r = run_cli(["bars", "002230", "--start", "2023-06-20", "--end", "2023-06-27", "--source", "sample",
                 "--format", "json"])
    assert r.code == 0, r.err
    days = [x["ts"][:10] for x in json.loads(r.out)]
    assert days == ["2023-06-20", "2023-06-21", "2023-06-26", "2023-06-27"]


def test_bars_only_holidays(run_cli):
    r = run_cli(["bars", "002230", "--start", "2023-06-22", "--end", "2023-06-25", "--source", "sample"])
    assert_bad_input(r, "端午节")


def test_bars_table_and_csv(run_cli):
    table = run_cli(["bars", "002230", *WEEK, "--source", "sample"])
    assert table.code == 0 and "56.57" in table.out and "2023-05-24 15:00:00+08:00" in table.out
    csv = run_cli(["bars", "002230", *WEEK, "--source", "sample", "--format", "csv"])
    assert csv.code == 0, csv.err
    df = pd.read_csv(io.StringIO(csv.out), dtype={"symbol": str})
    assert list(df.columns) == ["symbol", "ts", "open", "high", "low", "close", "prev_close", "volume", "amount",
                                "turnover"]
    assert len(df) == 5 and df["symbol"].eq("002230").all()
    assert df["ts"].iloc[2] == "2023-05-24T15:00:00+08:00"


# --- JSON is one document and nothing else ------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["bars", "002230", *WEEK, "--source", "sample", "--format", "json", "-vv"],
    ["symbols", "科大讯飞", "399001", "--format", "json", "-v"],
    ["fetch", "002230", "399001", *WEEK, "--source", "sample", "--format", "json", "-vv"],
], ids=["bars", "symbols", "fetch"])
def test_json_is_one_document(run_cli, tmp_path, argv):
    r = run_cli([*argv, "--store", str(tmp_path / "st")])
    assert r.code == 0, r.err
    doc = json.loads(r.out)  # raises if anything else is on stdout
    assert isinstance(doc, list) and len(doc) >= 2
    assert r.out.strip().startswith("[") and r.out.strip().endswith("]")


def test_fetch_json_fields(run_cli, tmp_path):
    r = run_cli(["fetch", "002230", "399001", *WEEK, "--source", "sample", "--store", str(tmp_path / "st"),
                 "--format", "json"])
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [(d["symbol"], d["asked"], d["rows"], d["error"]) for d in doc] == [
        ("002230", "2023-05-22..2023-05-26", 5, ""), ("399001.SZ", "2023-05-22..2023-05-26", 5, "")]


# --- bad input: exit 2, one line, nothing written -----------------------------------------------

@pytest.mark.parametrize("cmd", ["bars", "fetch"])
@pytest.mark.parametrize("symbol", ["XYZ", "999999", "../etc"])
def test_unknown_symbol_creates_no_store(run_cli, tmp_path, cmd, symbol):
    store = tmp_path / "st"
    r = run_cli([cmd, symbol, *WEEK, "--source", "sample", "--store", str(store)])
    assert_bad_input(r, repr(symbol))
    assert not store.exists()
    assert not os.path.exists(os.environ["ANOMALY_STORE"])


@pytest.mark.parametrize("argv", [
    ["fetch", "002230", "XYZ", *WEEK, "--source", "sample"],
    ["fetch", "XYZ", *WEEK, "--source", "sample"],
    ["bars", "XYZ", *WEEK, "--source", "sample"],
    ["bars", "002230", *WEEK, "--source", "bogus"],
    ["fetch", "002230", *WEEK, "--source", "bogus"],
    ["fetch", "002230", *WEEK, "--source", "store"],
    ["fetch", "002230", "--start", "2023-05-26", "--end", "2023-05-22", "--source", "sample"],
    ["fetch", "002230", "--start", "2023-02-30", "--end", "2023-05-22", "--source", "sample"],
], ids=["one-unknown", "unknown", "bars-unknown", "bars-bad-source", "bad-source", "fetch-from-store",
        "end-before-start", "bad-date"])
def test_bad_input_leaves_existing_store_unchanged(run_cli, tmp_path, snapshot, argv):
    store = tmp_path / "st"
    assert run_cli(["fetch", "002230", *WEEK, "--source", "sample", "--store", str(store)]).code == 0
    snapshot.age(store)
    before = snapshot(store)
    r = run_cli([*argv, "--store", str(store)])
    assert_bad_input(r)
    assert snapshot(store) == before


def test_fetch_symbol_missing_from_source(run_cli, tmp_path, snapshot):
    # 300750 is a real code the bundled sample does not hold: every symbol failed as bad input → 2
    store = tmp_path / "st"
    assert run_cli(["fetch", "002230", *WEEK, "--source", "sample", "--store", str(store)]).code == 0
    snapshot.age(store)
    before = snapshot(store)
    r = run_cli(["fetch", "300750", *WEEK, "--source", "sample", "--store", str(store)])
    assert r.code == 2
    assert r.err_lines[-1].startswith("error: ") and "300750" in r.err_lines[-1] and "Traceback" not in r.err
    assert snapshot(store) == before


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_fetch_all_bad_prints_only_the_error(run_cli, tmp_path, fmt):
    # exit 2 means "bad input, nothing done": the one error line on stderr, not also a result
    # table (or a JSON document) on stdout repeating it.
    r = run_cli(["fetch", "300750", *WEEK, "--source", "sample", "--store", str(tmp_path / "st"), "--format", fmt])
    assert r.code == 2
    assert r.out == ""
    assert len(r.err_lines) == 1, r.err


@pytest.mark.parametrize("argv,needle", [
    (["bars", "002230", "--start", "2023-05-32", "--end", "2023-06-01", "--source", "sample"], "2023-05-32"),
    (["bars", "002230", "--start", "2023-05-26", "--end", "2023-05-22", "--source", "sample"], "before"),
    (["bars", "002230", "--end", "2023-05-26", "--source", "sample"], "--start"),
    (["bars", "--start", "2023-05-22", "--end", "2023-05-26"], "SYMBOL"),
    (["bars", "002230", *WEEK, "--frequency", "daily"], "--frequency"),
    (["bars", "002230", *WEEK, "--freq", "2min"], "2min"),
    (["bars", "002230", *WEEK, "--format", "xml"], "xml"),
    (["nosuchcommand"], "nosuchcommand"),
    (["bars", "002230", *WEEK, "--source", "store", "--store", "{tmp}/empty"], "anomaly fetch"),
])
def test_usage_errors_one_line(run_cli, tmp_path, argv, needle):
    r = run_cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert_bad_input(r, needle)
    assert not (tmp_path / "empty").exists()


# --- common options after the command name ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_the_common_options(name):
    cmd = cli.commands[name]
    opts = {p.name: p for p in cmd.params}
    for dest, flag in COMMON.items():
        assert dest in opts, f"{name} lacks {flag}"
        assert flag in opts[dest].opts
    assert "-v" in opts["verbose"].opts


@pytest.mark.parametrize("argv", [
    ["bars", "--source", "sample", "002230", *WEEK, "--format", "json"],
    ["bars", "002230", "-v", *WEEK, "--format", "json", "--source", "sample"],
    ["bars", "002230", *WEEK, "--format", "json", "--source", "sample", "--config", "{cfg}", "-v", "--store", "{tmp}/st"],
])
def test_common_options_in_any_position(run_cli, tmp_path, argv):
    cfg = tmp_path / "ok.toml"
    cfg.write_text("[detect]\ndaily = []\nintraday = []\n", encoding="utf-8")
    r = run_cli([a.replace("{tmp}", str(tmp_path)).replace("{cfg}", str(cfg)) for a in argv])
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 5


def test_store_option_on_fetch_then_bars(run_cli, tmp_path):
    store = tmp_path / "st"
    r = run_cli(["fetch", "002230", *WEEK, "--store", str(store), "--source", "sample", "-v"])
    assert r.code == 0, r.err
    assert "002230: 5 bars" in r.out
    rows = json.loads(run_cli(["bars", "002230", *WEEK, "--store", str(store), "--format", "json"]).out)
    assert len(rows) == 5


@pytest.mark.parametrize("argv", [["calendar", "2023-06-22"], ["symbols", "002230"],
                                  ["bars", "002230", *WEEK, "--source", "sample"]])
def test_bad_config_is_refused_by_every_command(run_cli, fixtures_dir, argv):
    # --config behaves the same on every command: a malformed file is an error (exit 2), never
    # silently ignored by the commands that happen not to need a setting from it.
    r = run_cli([*argv, "--config", str(fixtures_dir / "bad.toml")])
    assert_bad_input(r, "bad.toml")


def test_version(run_cli):
    r = run_cli(["--version"])
    assert r.code == 0 and "0.1.0" in r.out


# --- a fresh interpreter (import order cannot hide problems) ------------------------------------

def test_fetch_in_fresh_process(tmp_path, subprocess_env, repo_root):
    store = tmp_path / "st"
    p = subprocess.run([sys.executable, "-m", "anomaly", "fetch", "002230", *WEEK, "--source", "sample",
                        "--store", str(store)], capture_output=True, text=True, env=subprocess_env,
                       cwd=repo_root, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "002230: 5 bars" in p.stdout
    assert (store / "bars" / "daily" / "002230.parquet").is_file()


def test_bare_command_prints_the_help_and_exits_0(run_cli):
    r = run_cli([])
    assert r.code == 0 and "Usage: anomaly" in r.out and "error" not in r.err


def test_symbols_without_arguments_lists_the_sample_panel(run_cli):
    r = run_cli(["symbols", "--source", "sample", "--format", "json"])
    assert r.code == 0, r.err
    import json
    rows = json.loads(r.out)
    ids = {row["symbol"] for row in rows}
    assert len(rows) >= 290 and {"300033", "600031", "688001"} <= ids
    assert all(row["kind"] == "stock" for row in rows)


def test_sample_bars_outside_its_years_say_what_it_covers(run_cli):
    r = run_cli(["bars", "002230", "--start", "2019-01-02", "--end", "2019-01-31", "--source", "sample"])
    assert r.code == 2
    assert r.err_lines[-1] == "error: the bundled sample covers 2020-01-02..2024-12-31; nothing in 2019-01-02..2019-01-31"


def test_detect_on_a_holiday_range_says_why(run_cli):
    r = run_cli(["detect", "002230", "--start", "2023-06-22", "--end", "2023-06-23", "--source", "sample"])
    assert r.code == 2 and r.err_lines[-1].startswith("error: no trading day in the range: 2023-06-22 is an "
                                                      "exchange holiday (端午节")


def test_calendar_with_dates_reversed_names_them_as_given(run_cli):
    r = run_cli(["calendar", "2023-05-31", "2023-05-01"])
    assert r.code == 2 and r.err_lines[-1] == "error: the second date 2023-05-01 is before the first 2023-05-31"


@pytest.mark.parametrize("value", ["samples", "csv", "ak share"])
def test_unknown_default_source_names_the_file_and_key(tmp_path, run_cli, value):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[source]\ndefault = "{value}"\n', encoding="utf-8")
    r = run_cli(["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-24", "--config", cfg])
    assert r.code == 2
    assert r.err_lines[-1].startswith(f"error: {cfg}: source.default: unknown source {value!r}")


def test_table_output_reads_like_a_table(run_cli):
    """Volumes and amounts without '.0' or e+09; Chinese names aligned; missing text blank, not NaN."""
    r = run_cli(["bars", "002230", "--start", "2023-05-24", "--end", "2023-05-24", "--source", "sample"])
    assert "110,471,900" in r.out and "e+09" not in r.out and ".0 " not in r.out
    r = run_cli(["symbols", "科大讯飞", "399001"])
    header, first, second = r.out.splitlines()[:3]
    import unicodedata

    def width(s):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)
    assert width(first) == width(second) == width(header)
    r = run_cli(["news", "002230", "--start", "2023-05-24", "--end", "2023-05-24", "--source", "sample"])
    assert "NaN" not in r.out and "None" not in r.out
    r = run_cli(["detect", "002230", "--start", "2023-05-24", "--end", "2023-05-24", "--source", "sample"])
    assert r.code == 0 and "range_crash" in r.out and "NaN" not in r.out


def test_symbols_of_a_store_are_what_it_holds(tmp_path, run_cli):
    store = tmp_path / "store"
    assert run_cli(["fetch", "002230", "--start", "2023-05-22", "--end", "2023-05-24", "--source", "sample",
                    "--store", store]).code == 0
    r = run_cli(["symbols", "--store", store, "--format", "json"])
    assert r.code == 0, r.err
    import json
    assert [row["symbol"] for row in json.loads(r.out)] == ["002230"]


@pytest.mark.parametrize("value, message", [
    ("csv:", "source.default: csv source needs a path: csv:FILE.csv or csv:FOLDER"),
    ("synthetic:x", "source.default: synthetic source seed must be a whole number, got 'x'"),
])
def test_malformed_source_names_in_a_config_say_what_is_wrong(tmp_path, run_cli, value, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[source]\ndefault = "{value}"\n', encoding="utf-8")
    r = run_cli(["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-24", "--config", cfg])
    assert r.code == 2 and r.err_lines[-1] == f"error: {cfg}: {message}"


def test_scan_with_minute_freq_quotes_the_value_given(tmp_path, run_cli):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'store = "{tmp_path / "s"}"\n[scan]\nfreq = "1min"\n', encoding="utf-8")
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "o"])
    assert r.code == 2 and r.err_lines[-1].startswith("error: scan.freq = '1min': the scan runs on daily bars")


def test_missing_minute_bars_list_what_the_sample_has(run_cli):
    r = run_cli(["bars", "399006.SZ", "--start", "2024-01-02", "--end", "2024-01-05", "--freq", "1min",
                 "--source", "sample"])
    assert r.code == 2
    assert "1min: 000001.SH, 600000; 5min: 000001.SH, 399006.SZ" in r.err_lines[-1]
