"""Bad bar files through the real reader (``anomaly bars SYMBOL --source csv:FILE``): every case either
reads correctly or fails with exit 2 and ONE line naming the file, row and column — never a traceback.
"""
from __future__ import annotations

import json
import warnings

import pytest

import rt_support as rt

H = "symbol,ts,open,high,low,close,prev_close,volume,amount,turnover\n"
R1 = "002230,2023-05-22,60.03,60.46,58.0,58.86,59.92,45089000,2659317822.53,2.12"
R2 = "002230,2023-05-23,58.83,60.17,57.48,59.09,58.86,45097600,2659514621.59,2.12"
AK = ("日期,股票代码,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率\n"
      "2023-05-22,002230,60.03,58.86,60.46,58.0,450890,2659317822.53,4.11,-1.77,-1.06,2.12\n"
      "2023-05-23,002230,58.83,59.09,60.17,57.48,450976,2659514621.59,4.57,0.39,0.23,2.12\n")
MIN_H = "symbol,ts,open,high,low,close,volume\n"


def r2(old, new):
    return R2.replace(old, new)


def T(s: str) -> bytes:
    return s.encode("utf-8")


# name: (file bytes, freq, exit code, exact error line with {p} for the path | None)
BAD = {
    "missing column": (T("symbol,ts,open,high,close,volume\n002230,2023-05-22,60.03,60.46,58.86,45089000\n"), "daily", 2,
                       "error: {p}: missing column(s) low (need symbol, ts, open, high, low, close, volume)"),
    "wrong type": (T(H + R1 + "\n" + r2("58.83", "abc")), "daily", 2,
                   "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): column 'open' is not a number ('abc')"),
    "NaN price": (T(H + R1 + "\n" + r2("58.83", "NaN")), "daily", 2,
                  "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): column 'open' is NaN"),
    "empty cell": (T(H + R1 + "\n" + r2("58.83", "")), "daily", 2,
                   "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): column 'open' is NaN"),
    "negative price": (T(H + R1 + "\n" + r2("57.48", "-57.48")), "daily", 2,
                       "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): column 'low' is not positive (-57.48)"),
    "zero price": (T(H + R1 + "\n" + r2("57.48", "0")), "daily", 2,
                   "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): column 'low' is not positive (0.0)"),
    "high < low": (T(H + R1 + "\n" + r2("60.17", "50.17")), "daily", 2,
                   "error: {p} row 2 (002230 2023-05-23 15:00:00+08:00): high is below low"),
    "duplicate timestamp": (T(H + R1 + "\n" + R1 + "\n" + R2), "daily", 2,
                            "error: {p} row 2 (002230 2023-05-22 15:00:00+08:00): duplicate timestamp for this symbol"),
    "unsorted timestamps": (T(H + R2 + "\n" + R1), "daily", 2,
                            "error: {p} row 2 (002230 2023-05-22 15:00:00+08:00): timestamps are not in ascending "
                            "order (sort the file by time)"),
    "naive minute timestamps": (T(MIN_H + "002230,2023-05-24 10:00,59,59.5,58.9,59.1,1000\n"), "1min", 2,
                                "error: {p}: timestamps have no time zone; write them like 2023-05-24T13:01:00+08:00 "
                                "(Eastmoney-layout files with 时间 are read as Shanghai time)"),
    "lunch-break bar": (T(MIN_H + "002230,2023-05-24T11:30:00+08:00,59,59.5,58.9,59.1,1000\n"
                          "002230,2023-05-24T12:00:00+08:00,59,59.5,58.9,59.1,1000\n"), "1min", 2,
                        "error: {p} row 2 (002230 2023-05-24 12:00+08:00): 12:00 is in the lunch break (11:30–13:00)"),
    "weekend minute bar": (T(MIN_H + "002230,2023-05-27T10:00:00+08:00,59,59.5,58.9,59.1,1000\n"), "1min", 2,
                           "error: {p} row 1 (002230 2023-05-27 10:00+08:00): 2023-05-27 is a Saturday: SSE/SZSE do "
                           "not trade at weekends"),
    "weekend daily bar": (T(H + R1.replace("2023-05-22", "2023-05-20") + "\n" + R2), "daily", 2,
                          "error: {p} row 1 (002230 2023-05-20 15:00:00+08:00): 2023-05-20 is a Saturday: SSE/SZSE do "
                          "not trade at weekends"),
    "holiday daily bar": (T(H + R1.replace("2023-05-22", "2023-06-22")), "daily", 2, None),
    "unknown symbol in file": (T(H + R1.replace("002230", "999999")), "daily", 2,
                               "error: {p} row 1: column 'symbol': unknown symbol '999999': not an A-share stock or "
                               "index code (try 002230, sz002230, 002230.SZ, 399001 or a name like 科大讯飞)"),
    "empty file": (b"", "daily", 2, "error: {p} is empty"),
    "header only": (T(H), "daily", 2, "error: csv source: {p} has no bars for 002230"),
    "infinite price": (T(H + R1.replace("60.46", "inf")), "daily", 2,
                       "error: {p} row 1 (002230 2023-05-22 15:00:00+08:00): column 'high' is infinite"),
    "overflowing volume (1e400)": (T(H + R1.replace("45089000", "1e400")), "daily", 2,
                                   "error: {p} row 1 (002230 2023-05-22 15:00:00+08:00): column 'volume' is infinite"),
    "negative volume": (T(H + R1.replace("45089000", "-5")), "daily", 2,
                        "error: {p} row 1 (002230 2023-05-22 15:00:00+08:00): negative volume"),
    "UTF-16 file": (AK.encode("utf-16"), "daily", 2, "error: {p} is neither UTF-8 nor GBK text"),
    "row with extra fields": (T(H + R1 + ",extra,more\n"), "daily", 2, None),
    "duplicate column name": (T("symbol,ts,open,high,low,close,volume,close\n"
                                "002230,2023-05-22,60.03,60.46,58.0,58.86,45089000,1\n"), "daily", 2, None),
    "akshare layout without 最低": (T(AK.replace(",最低", "").replace(",58.0,", ",").replace(",57.48,", ",")), "daily", 2,
                                   None),
}


def run_bars(cli, path, freq="daily", start="2023-05-01", end="2023-06-30", fmt="table"):
    return cli(["bars", "002230", "--start", start, "--end", end, "--freq", freq, "--source", f"csv:{path}",
                "--format", fmt])


@pytest.mark.parametrize("case", list(BAD))
def test_bad_bar_file_one_line_exit_2(case, cli, tmp_path):
    data, freq, code, want = BAD[case]
    p = tmp_path / "002230_bars.csv"
    p.write_bytes(data)
    r = run_bars(cli, p, freq=freq, start="2023-05-01" if freq == "daily" else "2023-05-22",
                 end="2023-06-30" if freq == "daily" else "2023-05-29")
    line = rt.the_error_line(r.err)
    assert r.code == code
    assert r.out == ""
    if want is not None:
        assert line == want.format(p=p)
    else:
        assert str(p) in line, line
    extra = {
        "holiday daily bar": ["2023-06-22", "not a trading day"],
        "row with extra fields": ["row 1", "fields"],
        "duplicate column name": ["duplicate column", "close"],
        "akshare layout without 最低": ["最低"],
    }.get(case, [])
    for word in extra:
        assert word in line, line


def canonical_rows(cli, path):
    r = run_bars(cli, path, fmt="json")
    assert r.code == 0, r.err
    assert r.err == ""
    return json.loads(r.out)


WANT = [
    {"symbol": "002230", "ts": "2023-05-22T15:00:00+08:00", "open": 60.03, "high": 60.46, "low": 58.0,
     "close": 58.86, "volume": 45089000.0, "amount": 2659317822.53},
    {"symbol": "002230", "ts": "2023-05-23T15:00:00+08:00", "open": 58.83, "high": 60.17, "low": 57.48,
     "close": 59.09, "volume": 45097600.0, "amount": 2659514621.59},
]


def _pick(rows):
    return [{k: r[k] for k in WANT[0]} for r in rows]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig (BOM)", "gbk", "gb18030"])
def test_akshare_export_in_every_chinese_encoding_reads_the_same(encoding, cli, tmp_path):
    p = tmp_path / "002230.csv"
    p.write_bytes(AK.encode(encoding.split(" ")[0]))
    assert _pick(canonical_rows(cli, p)) == WANT


@pytest.mark.parametrize("variant", ["crlf line ends", "extra unknown columns", "naive daily dates",
                                     "tz-aware with different offsets", "compact dates 20230522"])
def test_odd_but_valid_canonical_files_read_correctly(variant, cli, tmp_path):
    rows = [R1, R2]
    head = H
    if variant == "extra unknown columns":
        head = H.rstrip("\n") + ",foo,bar\n"
        rows = [r + ",x,y" for r in rows]
    elif variant == "tz-aware with different offsets":
        rows = [R1.replace("2023-05-22", "2023-05-22T15:00:00+08:00"), R2.replace("2023-05-23", "2023-05-23T07:00:00Z")]
    elif variant == "compact dates 20230522":
        rows = [R1.replace("2023-05-22", "20230522"), R2.replace("2023-05-23", "20230523")]
    text = head + "\n".join(rows) + "\n"
    if variant == "crlf line ends":
        text = text.replace("\n", "\r\n")
    p = tmp_path / "002230.csv"
    p.write_bytes(text.encode())
    assert _pick(canonical_rows(cli, p)) == WANT


def test_huge_finite_values_do_not_crash_or_spill_python_warnings(cli, tmp_path):
    """1e308 prices pass the schema (finite, consistent); the detectors must neither crash nor print
    numpy RuntimeWarnings (stderr carries only the CLI's own ``warning:`` / ``error:`` lines)."""
    p = tmp_path / "002230.csv"
    rows = [R1.replace("2023-05-22", d) for d in ("2023-05-22", "2023-05-23")]
    rows[1] = rows[1].replace("60.46", "1e308").replace("45089000", "1e300")
    p.write_bytes((H + "\n".join(rows) + "\n").encode())
    with warnings.catch_warnings(record=True) as caught:   # what a plain `anomaly` run would print
        warnings.simplefilter("always")
        r = cli(["detect", "002230", "--start", "2023-05-22", "--end", "2023-05-23", "--source", f"csv:{p}"])
    assert "internal error" not in r.err
    assert r.code == 0               # a missing benchmark index is a note, not a failure
    bad = [l for l in r.err.splitlines() if l.strip() and not l.startswith(("note: ", "warning: ", "error: "))]
    assert bad == [], bad
    spilled = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
               if issubclass(w.category, RuntimeWarning)]   # numeric overflow noise (printed by default)
    assert spilled == [], spilled


@pytest.mark.parametrize("name", ["it's \"quoted\"; DROP TABLE bars;--", "..", "$(touch pwned)", "spaced name"])
def test_hostile_folder_names_are_just_paths(name, cli, tmp_path):
    folder = tmp_path / name / "inner"
    folder.mkdir(parents=True)
    p = folder / "002230.csv"
    p.write_text(H + R1 + "\n" + R2 + "\n", encoding="utf-8")
    path = tmp_path / name / "inner" / ".." / "inner" / "002230.csv"
    r = run_bars(cli, path, fmt="json")
    assert r.code == 0, r.err
    assert _pick(json.loads(r.out)) == WANT
    assert not (tmp_path / "pwned").exists()
