"""``csv:PATH`` — canonical and akshare/Eastmoney layouts, encodings, and one-line errors."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import pandas as pd
import pytest

from anomaly.errors import BadInput
from anomaly.sources import get_source
from anomaly.sources.csvfile import CsvSource, read_bars_csv
from anomaly.symbols import resolve

TZ = "Asia/Shanghai"
D = dt.date.fromisoformat
WEEK = ("2023-05-22", "2023-05-26")


def read(path, symbol="002230") -> pd.DataFrame:
    return CsvSource(str(path)).bars(resolve(symbol), D(WEEK[0]), D(WEEK[1]))


def bars_args(path, symbol="002230", *extra):
    return ["bars", symbol, "--start", WEEK[0], "--end", WEEK[1], "--source", f"csv:{path}", *extra]


def assert_one_line_error(r, *needles):
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    assert "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    for n in needles:
        assert n in r.err, (n, r.err)


# --- layouts ------------------------------------------------------------------------------------

def test_canonical_layout_equals_sample(fixtures_dir, real_002230, sample_bars):
    got = read(fixtures_dir / "002230_canonical.csv")
    pd.testing.assert_frame_equal(got, real_002230, check_dtype=False)
    sample = sample_bars[(sample_bars["symbol"] == "002230")
                         & sample_bars["ts"].dt.date.between(D(WEEK[0]), D(WEEK[1]))].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, sample, check_dtype=False)


def test_akshare_layout_equals_sample(fixtures_dir, real_002230):
    got = read(fixtures_dir / "002230_akshare.csv")
    assert got["volume"].tolist() == real_002230["volume"].tolist()  # 成交量 lots × 100 = shares
    # every value the file holds directly, and prev_close derived from the previous row
    cols = ["symbol", "ts", "open", "high", "low", "close", "volume", "amount", "turnover"]
    pd.testing.assert_frame_equal(got[cols], real_002230[cols], check_dtype=False)
    assert got["prev_close"].tolist()[1:] == real_002230["prev_close"].tolist()[1:]


def test_akshare_layout_first_prev_close_from_change(fixtures_dir, real_002230):
    # The Eastmoney export carries 涨跌额 (close − previous close), so even the first row's
    # prev_close is known exactly (58.86 − (−1.06) = 59.92); the file then matches the sample in full.
    got = read(fixtures_dir / "002230_akshare.csv")
    assert got["prev_close"].iloc[0] == pytest.approx(59.92, abs=1e-9)
    pd.testing.assert_frame_equal(got, real_002230, check_dtype=False)


@pytest.mark.parametrize("name", ["002230_akshare_gbk.csv", "002230_akshare_bom.csv"])
def test_encodings(fixtures_dir, name):
    raw = (fixtures_dir / name).read_bytes()
    if "gbk" in name:
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    else:
        assert raw.startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(read(fixtures_dir / name), read(fixtures_dir / "002230_akshare.csv"))


def test_bom_canonical_file(fixtures_dir, tmp_path, real_002230):
    p = tmp_path / "bom.csv"
    p.write_bytes((fixtures_dir / "002230_canonical.csv").read_text(encoding="utf-8").encode("utf-8-sig"))
    pd.testing.assert_frame_equal(read(p), real_002230, check_dtype=False)


def test_cli_csv_equals_sample(run_cli, fixtures_dir):
    sample = run_cli(["bars", "002230", "--start", WEEK[0], "--end", WEEK[1], "--source", "sample", "--format", "json"])
    for name in ("002230_canonical.csv", "002230_akshare_gbk.csv"):
        r = run_cli(bars_args(fixtures_dir / name, "002230", "--format", "json"))
        assert r.code == 0, r.err
        got, want = json.loads(r.out), json.loads(sample.out)
        if "akshare" in name:  # see test_akshare_layout_first_prev_close_from_change
            for row in (got[0], want[0]):
                row.pop("prev_close")
        assert got == want, name


def test_csv_output_reads_back(run_cli, tmp_path):
    r = run_cli(["bars", "002230", "--start", "2023-05-01", "--end", "2023-06-30", "--source", "sample", "--format", "csv"])
    assert r.code == 0, r.err
    p = tmp_path / "out.csv"
    p.write_text(r.out, encoding="utf-8")
    back = run_cli(["bars", "002230", "--start", "2023-05-01", "--end", "2023-06-30", "--source", f"csv:{p}",
                    "--format", "json"])
    again = run_cli(["bars", "002230", "--start", "2023-05-01", "--end", "2023-06-30", "--source", "sample",
                     "--format", "json"])
    assert back.code == 0, back.err
    assert json.loads(back.out) == json.loads(again.out)


def test_folder_of_files(tmp_path, fixtures_dir, real_002230):
    folder = tmp_path / "csvs"
    folder.mkdir()
    shutil.copy(fixtures_dir / "002230_canonical.csv", folder / "002230.csv")
    pd.testing.assert_frame_equal(read(folder), real_002230, check_dtype=False)
    pd.testing.assert_frame_equal(read(folder, "sz002230"), real_002230, check_dtype=False)
    with pytest.raises(BadInput, match="no file for 600000"):
        read(folder, "600000")


def test_file_without_symbol_column_takes_asked_symbol(tmp_path, fixtures_dir, real_002230):
    df = pd.read_csv(fixtures_dir / "002230_canonical.csv", dtype=str).drop(columns="symbol")
    p = tmp_path / "prices.csv"
    df.to_csv(p, index=False)
    pd.testing.assert_frame_equal(read(p), real_002230, check_dtype=False)


def test_symbol_codes_without_leading_zeros(tmp_path, fixtures_dir, real_002230):
    # Spreadsheets drop the leading zeros of 002230 → 2230; the code is still 002230.
    text = (fixtures_dir / "002230_canonical.csv").read_text(encoding="utf-8").replace("\n002230,", "\n2230,")
    p = tmp_path / "excel.csv"
    p.write_text(text, encoding="utf-8")
    pd.testing.assert_frame_equal(read(p), real_002230, check_dtype=False)


def test_other_symbol_in_file(fixtures_dir):
    with pytest.raises(BadInput, match="no bars for 600000"):
        read(fixtures_dir / "002230_canonical.csv", "600000")


def test_daily_stamps_end_at_1500(fixtures_dir):
    got = read_bars_csv(fixtures_dir / "002230_canonical.csv")
    assert (got["ts"].dt.strftime("%H:%M") == "15:00").all()
    assert str(got["ts"].dt.tz) == TZ


# --- one-line errors ----------------------------------------------------------------------------

def test_missing_column_cli(run_cli, fixtures_dir):
    r = run_cli(bars_args(fixtures_dir / "missing_low.csv"))
    assert_one_line_error(r, "missing_low.csv", "low")


def test_akshare_missing_column_cli(run_cli, fixtures_dir):
    r = run_cli(bars_args(fixtures_dir / "akshare_missing_low.csv"))
    assert_one_line_error(r, "akshare_missing_low.csv")
    assert "low" in r.err or "最低" in r.err


@pytest.mark.parametrize("name,needles", [
    ("empty.csv", ("empty.csv", "empty")),
    ("header_only.csv", ("header_only.csv",)),
    ("bad_date.csv", ("bad_date.csv", "2023-05-3x")),
    ("bad_number.csv", ("bad_number.csv", "close", "abc")),
])
def test_bad_files_cli(run_cli, fixtures_dir, name, needles):
    assert_one_line_error(run_cli(bars_args(fixtures_dir / name)), *needles)


def test_missing_file_cli(run_cli, tmp_path):
    assert_one_line_error(run_cli(bars_args(tmp_path / "nope.csv")), "nope.csv")


def test_bad_date_names_row(fixtures_dir):
    with pytest.raises(BadInput) as ei:
        read(fixtures_dir / "bad_date.csv")
    assert re.search(r"\brow \d+\b", str(ei.value))


def _row_number(msg: str) -> int:
    m = re.search(r"\brow (\d+)\b", msg)
    assert m, msg
    return int(m.group(1))


def test_row_numbers_agree_between_checks(fixtures_dir):
    # bad_date.csv and bad_number.csv both have their problem on the 2nd data row (file line 3);
    # a user must be sent to the same row by both messages.
    with pytest.raises(BadInput) as date_err:
        read(fixtures_dir / "bad_date.csv")
    with pytest.raises(BadInput) as number_err:
        read(fixtures_dir / "bad_number.csv")
    assert _row_number(str(date_err.value)) == _row_number(str(number_err.value)), (
        str(date_err.value), str(number_err.value))


def test_non_csv_binary(tmp_path, run_cli):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd" * 10)
    r = run_cli(bars_args(p))
    assert r.code == 2 and "Traceback" not in r.err and len(r.err_lines) == 1


def test_duplicate_columns(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("date,ts,open,high,low,close,volume\n2023-05-22,2023-05-22,1,1,1,1,1\n", encoding="utf-8")
    with pytest.raises(BadInput, match="duplicate column"):
        read(p)


def test_get_source_csv_missing_path(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        get_source(f"csv:{tmp_path / 'missing.csv'}")


def test_unknown_source_name():
    with pytest.raises(BadInput, match="unknown source 'bogus'"):
        get_source("bogus")
