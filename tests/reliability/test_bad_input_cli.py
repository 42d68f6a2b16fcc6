"""CLI arguments: every mistake is exit 2 with one ``error:`` line (nothing on stdout); an internal
error is one line too (exit 1), and ``-v`` adds the traceback."""
from __future__ import annotations

import pytest

import rt_support as rt

S = ["--source", "sample"]
RANGE = ["--start", "2023-05-22", "--end", "2023-05-26"]

# name: (argv, exact error line)
BAD = {
    "unknown command": (["frobnicate"], "error: No such command 'frobnicate'. (see: anomaly --help)"),
    "unknown option": (["bars", "002230", *RANGE, *S, "--colour"],
                       "error: No such option '--colour'. Did you mean '--source'? (see: anomaly bars --help)"),
    "missing argument": (["bars", *RANGE, *S], "error: Missing argument 'SYMBOL'. (see: anomaly bars --help)"),
    "missing --start": (["bars", "002230", "--end", "2023-05-26", *S],
                        "error: Missing option '--start'. (see: anomaly bars --help)"),
    "not a date": (["bars", "002230", "--start", "2023-13-22", "--end", "2023-05-26", *S],
                   "error: Invalid value for '--start': '2023-13-22' is not a date (use YYYY-MM-DD) "
                   "(see: anomaly bars --help)"),
    "SQL as a date": (["bars", "002230", "--start", "2023-05-22'; DROP TABLE bars;--", "--end", "2023-05-26", *S],
                      "error: Invalid value for '--start': \"2023-05-22'; DROP TABLE bars;--\" is not a date "
                      "(use YYYY-MM-DD) (see: anomaly bars --help)"),
    "end before start": (["bars", "002230", "--start", "2023-05-26", "--end", "2023-05-22", *S],
                         "error: --end 2023-05-22 is before --start 2023-05-26"),
    "date outside the calendar": (["bars", "002230", "--start", "1900-01-01", "--end", "1900-01-10", *S],
                                  "error: 1900-01-01 is outside the exchange calendar (2005-01-04..2026-12-31)"),
    "weekend-only range": (["bars", "002230", "--start", "2023-05-27", "--end", "2023-05-28", *S],
                           "error: no trading day in the range: 2023-05-27 is a Saturday: SSE/SZSE do not trade at "
                           "weekends; 2023-05-28 is a Sunday: SSE/SZSE do not trade at weekends"),
    "unknown frequency": (["detect", "002230", *RANGE, *S, "--freq", "2min"],
                          "error: Invalid value for '--freq': '2min' is not one of 'daily', '1min', '5min', '15min', "
                          "'30min', '60min'. (see: anomaly detect --help)"),
    "unknown format": (["bars", "002230", *RANGE, *S, "--format", "xml"],
                       "error: Invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv'. "
                       "(see: anomaly bars --help)"),
    "unknown source": (["bars", "002230", *RANGE, "--source", "bogus"],
                       "error: unknown source 'bogus'; use one of sample, store, akshare, baostock, synthetic, csv:PATH"),
    "synthetic seed not a number": (["bars", "002230", *RANGE, "--source", "synthetic:abc"],
                                    "error: synthetic source seed must be a whole number, got 'abc'"),
    "unknown detector": (["detect", "002230", *RANGE, *S, "--detector", "nope"],
                         "error: unknown detector 'nope'; known: abnormal_return, cliff, deviation, lee_mykland, lhb, "
                         "limits, range, vol_surprise, volume_surge"),
    "unknown universe": (["detect", "--universe", "bogus", *RANGE, *S],
                         "error: unknown universe 'bogus' (use sample, watchlist or all)"),
    "symbols and universe": (["detect", "002230", "--universe", "sample", *RANGE, *S],
                             "error: give symbols or --universe, not both"),
    "--date with --start": (["scan", "--date", rt.DATE, "--start", rt.DATE, "--end", rt.DATE, "--no-plots"],
                            "error: give --date or --start/--end, not both"),
    "--start without --end": (["scan", "--start", rt.DATE, "--no-plots"],
                              "error: a backfill needs both --start and --end"),
    "link on a weekend": (["link", "002230", "--date", "2023-05-27", *S],
                          "error: 2023-05-27 is a Saturday: SSE/SZSE do not trade at weekends"),
    "fetch from store": (["fetch", "002230", *RANGE, "--source", "store"],
                         "error: fetch needs a data source (--source sample|akshare|baostock|csv:PATH|synthetic)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_exit_2_one_line(case, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, want = BAD[case]
    r = cli(argv)
    assert r.code == 2
    assert rt.the_error_line(r.err) == want
    assert r.out == ""


def test_store_path_is_a_file(cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = cli(["bars", "002230", *RANGE, "--store", f])
    assert r.code == 2
    assert rt.the_error_line(r.err) == (f"error: Invalid value for '--store': Directory '{f}' is a file. "
                                        "(see: anomaly bars --help)")


def test_scan_on_a_weekend_is_not_a_failure(cli, tmp_path):
    r = cli(["scan", "--date", "2023-05-27", "--no-plots", "--store", tmp_path / "s", "--out", tmp_path / "o"])
    assert r.code == 0
    assert r.out.strip() == ("2023-05-27 is not a trading day: 2023-05-27 is a Saturday: SSE/SZSE do not trade at "
                             "weekends; nothing to scan")
    assert not (tmp_path / "o").exists()


def test_dask_without_scheduler_is_bad_input_and_writes_nothing(cli, tmp_path):
    r = cli(["scan", "--date", rt.DATE, "--engine", "dask", "--store", tmp_path / "s", "--out", tmp_path / "o"])
    assert r.code == 2
    assert rt.the_error_line(r.err) == "error: --engine dask needs --scheduler ADDRESS or local-cluster"
    assert not (tmp_path / "o").exists()
    assert rt.parquet_files(tmp_path / "s") == []


HOSTILE_SYMBOLS = {
    "path traversal": "../../etc/passwd",
    "absolute path": "/etc/passwd",
    "traversal after a code": "sz002230/../../x",
    "SQL fragment": "002230'; DROP TABLE bars;--",
    "double quotes": '002230" OR "1"="1',
    "NUL byte": "002230\x00",
    "newline": "002230\nerror: fake second line",
    "ANSI escape": "\x1b[2J\x1b[31m002230",
    "RTL override": "\u202e032200",
    "percent-encoded dots": "%2e%2e%2f%2e%2e%2f",
    "10k characters": "0" * 10000,
    "empty": "",
    "non-ASCII digit (Arabic-Indic zero)": "00223\u0660",
    "fullwidth digits": "００２２３０",
}


@pytest.mark.parametrize("case", list(HOSTILE_SYMBOLS))
def test_hostile_symbols_are_unknown_exit_2(case, cli, tmp_path, snapshot):
    text = HOSTILE_SYMBOLS[case]
    store = tmp_path / "store"
    r = cli(["symbols", text, "--format", "json"])
    assert r.code == 2, r.out
    line = rt.the_error_line(r.err)
    assert line.startswith("error: unknown symbol ")
    assert not any(ord(c) < 32 or c in "\u202e" for c in line), repr(line)   # echoed inert (repr-escaped)
    assert len(line) < 400
    assert r.out == ""
    r = cli(["fetch", text, *RANGE, *S, "--store", store])
    assert r.code == 2
    assert rt.the_error_line(r.err).startswith("error: unknown symbol ")
    assert snapshot(tmp_path) == {}            # nothing created anywhere


def test_internal_error_is_one_line_and_v_gives_the_traceback(cli, monkeypatch):
    import anomaly.pipeline

    def boom(*a, **k):
        raise RuntimeError("boom\nsecond line of a message")

    monkeypatch.setattr(anomaly.pipeline, "link_symbol_day", boom)
    r = cli(["link", "002230", "--date", rt.DATE, *S])
    assert r.code == 1
    assert r.err_lines == ["error: internal error RuntimeError: boom second line of a message "
                           "(run with -v for details)"]
    assert r.out == ""
    r = cli(["link", "002230", "--date", rt.DATE, *S, "-v"])
    assert r.code == 1
    assert "Traceback (most recent call last):" in r.err
    assert 'raise RuntimeError("boom' in r.err
    assert r.err_lines[-1] == ("error: internal error RuntimeError: boom second line of a message "
                               "(run with -v for details)")


def test_interrupt_is_one_line_exit_130(cli, monkeypatch):
    """Ctrl-C: ``cli.main`` has a KeyboardInterrupt branch (exit 130, "interrupted")."""
    import anomaly.pipeline

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(anomaly.pipeline, "link_symbol_day", interrupted)
    r = cli(["link", "002230", "--date", rt.DATE, *S])
    assert r.code == 130
    assert r.err_lines == ["interrupted"]


def test_json_output_on_error_leaves_stdout_empty(cli):
    r = cli(["bars", "999999", *RANGE, *S, "--format", "json"])
    assert r.code == 2 and r.out == ""
