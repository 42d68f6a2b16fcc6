"""News into the store: `import-news` and `fetch --news` add nothing the second time."""
from __future__ import annotations

from pathlib import Path

from anomaly.cli import main
from anomaly.store import Store

NEWS = Path(__file__).resolve().parents[1] / "anomaly" / "data" / "sample" / "news.csv"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _files(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_import_news_twice_adds_nothing(tmp_path, capsys):
    store = tmp_path / "store"
    code, out, _ = run(["import-news", NEWS, "--store", store], capsys)
    assert code == 0 and "10 new, 0 already stored" in out
    before = _files(store)
    code, out, _ = run(["import-news", NEWS, "--store", store], capsys)
    assert code == 0 and "0 new, 10 already stored" in out
    assert _files(store) == before
    items = Store(store).news("002230", __import__("datetime").date(2023, 5, 22), __import__("datetime").date(2023, 5, 26))
    assert len(items) == 10 and items["id"].is_unique


def test_fetch_news_twice_adds_nothing(tmp_path, capsys):
    store = tmp_path / "store"
    argv = ["fetch", "002230", "--start", "2023-05-20", "--end", "2023-05-31", "--source", "sample", "--news",
            "--store", store]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "10 news added" in out
    before = _files(store)
    code, out, _ = run(argv, capsys)
    assert code == 0 and "nothing new" in out and "0 news added" in out
    assert _files(store) == before


def test_import_news_bad_file_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,remark\n2023-05-24 10:00,x\n", encoding="utf-8")
    store = tmp_path / "store"
    code, out, err = run(["import-news", NEWS, bad, "--store", store], capsys)
    assert code == 2
    assert len([l for l in err.splitlines() if l.strip()]) == 1 and "bad.csv" in err and "title" in err
    assert not store.exists() or not list(store.rglob("*.parquet"))


def test_link_terminal_output_shows_news_times_as_precisely_as_known(run_cli):
    """Day- and session-precision items must not show a made-up clock time (00:00, 13:00, 18:00)."""
    r = run_cli(["link", "002230", "--date", "2023-05-24", "--source", "sample"])
    assert r.code == 0, r.err
    news = [ln for ln in r.out.splitlines() if ln.startswith("   0.")]
    assert any("2023-05-24 (day) [social] 小作文" in ln for ln in news)
    assert any("2023-05-24 ~13:00–15:00 [statement]" in ln for ln in news)
    assert any("2023-05-24 15:40:56 [news]" in ln for ln in news)
    assert not any("00:00 [" in ln or " 18:00 [" in ln for ln in news)
    assert "severity: 4.56\n" in r.out
