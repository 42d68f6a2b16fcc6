"""The nightly scan end to end on the bundled real sample (issue 6 acceptance)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from anomaly.cli import main
from anomaly.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.toml"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def demo_scan(tmp_path_factory):
    """The README's main job: the demo scan of 2023-05-24 (run once for the module)."""
    out = tmp_path_factory.mktemp("scan")
    argv = ["scan", "--config", str(DEMO), "--date", "2023-05-24", "--out", str(out / "out"),
            "--store", str(out / "store")]
    code = main(argv)
    return code, out, argv


def small_config(tmp_path: Path, symbols=("002230", "000021", "300033", "600031"), workers: int = 1) -> Path:
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        f'store = "{tmp_path / "store"}"\n[source]\ndefault = "sample"\n'
        f'[universe]\nname = "watchlist"\nwatchlist = {json.dumps(list(symbols))}\n'
        f'[scan]\nworkers = {workers}\nplots = false\n', encoding="utf-8")
    return cfg


def test_demo_scan_writes_every_output(demo_scan):
    code, out, _ = demo_scan
    assert code == 0
    day = out / "out" / "2023-05-24"
    for name in ("report.md", "report.html", "events.json", "anomalies.csv"):
        assert (day / name).stat().st_size > 200, name
    assert (day / "plots" / "002230.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    anomalies = pd.read_csv(day / "anomalies.csv", dtype={"symbol": str})
    assert set(anomalies["symbol"]) >= {"002230"}
    html = (day / "report.html").read_text(encoding="utf-8")
    assert "科大讯飞" in html and "data:image/png;base64," in html
    assert "<script" not in html.lower()  # self-contained and script-free


def test_iflytek_leads_with_its_rumor_linked_story(demo_scan):
    _, out, _ = demo_scan
    events = json.loads((out / "out" / "2023-05-24" / "events.json").read_text(encoding="utf-8"))
    if isinstance(events, dict):
        events = events["events"]
    ids = [e["id"] for e in events]
    assert "002230@2023-05-24" in ids[:3]
    ev = next(e for e in events if e["symbol"] == "002230")
    assert ev["verdict"] == "news_linked"
    top_two = [n for n in ev["news"][:2]]
    assert {n["kind"] for n in top_two} == {"social"}
    assert all(n["role"] in ("precursor", "concurrent") for n in top_two)
    assert abs(ev["anomaly"]["magnitude"] - (-0.0946)) < 5e-4
    md = (out / "out" / "2023-05-24" / "report.md").read_text(encoding="utf-8")
    first_event = md.split("## 1.")[1][:200]
    assert "科大讯飞" in first_event


def test_demo_scan_results_are_in_the_store(demo_scan):
    _, out, _ = demo_scan
    store = Store(out / "store")
    stored = store.events()
    assert any(e["id"] == "002230@2023-05-24" for e in stored)
    q = store.query("select verdict from events where symbol = ? and date = ?", ["002230", "2023-05-24"])
    assert list(q["verdict"]) == ["news_linked"]


def test_rerun_is_idempotent(demo_scan, capsys):
    code, out, argv = demo_scan
    day = out / "out" / "2023-05-24"
    before = (day / "events.json").read_bytes()
    csv_before = (day / "anomalies.csv").read_bytes()
    assert main(argv) == 0
    capsys.readouterr()
    assert (day / "events.json").read_bytes() == before
    assert (day / "anomalies.csv").read_bytes() == csv_before
    store = Store(out / "store")
    dup = store.query("select id, count(*) as c from events group by id having count(*) > 1")
    assert dup.empty
    n_events = store.query("select count(*) as n from events")["n"].iloc[0]
    assert n_events == len(json.loads(before) if isinstance(json.loads(before), list) else json.loads(before)["events"])
    leftovers = [p.name for p in (out / "out").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_holiday_exits_zero_and_says_so(tmp_path, capsys):
    code, stdout, _ = run(["scan", "--config", small_config(tmp_path), "--date", "2023-06-22",
                           "--out", tmp_path / "out"], capsys)
    assert code == 0
    assert "2023-06-22 is not a trading day" in stdout and "端午节" in stdout
    assert not (tmp_path / "out").exists()


def test_one_failing_symbol_is_reported_and_the_rest_scanned(tmp_path, capsys, monkeypatch):
    from anomaly.errors import SourceError
    from anomaly.sources.sample import SampleSource

    real = SampleSource.daily_bars

    def flaky(self, symbol, start, end):
        if symbol.id == "300033":
            raise SourceError("simulated upstream failure for 300033 (connection reset)")
        return real(self, symbol, start, end)

    monkeypatch.setattr(SampleSource, "daily_bars", flaky)
    code, stdout, _ = run(["scan", "--config", small_config(tmp_path), "--date", "2023-05-24",
                           "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert "300033" in stdout and "simulated upstream failure" in stdout
    md = (tmp_path / "out" / "2023-05-24" / "report.md").read_text(encoding="utf-8")
    assert "300033" in md and "simulated upstream failure" in md
    events = json.loads((tmp_path / "out" / "2023-05-24" / "events.json").read_text(encoding="utf-8"))
    events = events if isinstance(events, list) else events["events"]
    assert any(e["symbol"] == "002230" for e in events)


def test_hostile_news_title_is_escaped_in_html(tmp_path, capsys, monkeypatch):
    from anomaly.schema import validate_news
    from anomaly.sources.sample import SampleSource

    real = SampleSource.news

    def with_hostile(self, symbol, start, end):
        items = real(self, symbol, start, end)
        evil = pd.DataFrame([{"ts": "2023-05-24T13:30:00+08:00", "ts_precision": "minute", "symbol": "002230",
                              "source": "<b>x</b>", "kind": "social",
                              "title": "网传科大讯飞<script>alert(1)</script>小作文", "url": "javascript:alert(1)"}])
        return pd.concat([items, validate_news(evil)], ignore_index=True)

    monkeypatch.setattr(SampleSource, "news", with_hostile)
    cfg = small_config(tmp_path, symbols=("002230",))
    code, _, _ = run(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out"], capsys)
    assert code == 0
    html = (tmp_path / "out" / "2023-05-24" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript:' not in html


def test_two_workers_give_the_same_events_as_one(tmp_path, capsys):
    outs = []
    for workers in (1, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        cfg = small_config(d, symbols=("002230", "000021", "300033", "600031", "002415", "600038"),
                           workers=workers)
        code, _, _ = run(["scan", "--config", cfg, "--start", "2023-05-23", "--end", "2023-05-25",
                          "--out", d / "out"], capsys)
        assert code == 0
        outs.append({p.parent.name: p.read_bytes() for p in sorted((d / "out").glob("*/events.json"))})
    assert outs[0].keys() == {"2023-05-23", "2023-05-24", "2023-05-25"}
    assert outs[0] == outs[1]


def test_second_scan_on_a_locked_store_refuses(tmp_path, capsys):
    cfg = small_config(tmp_path)
    store = Store(tmp_path / "store")
    with store.scan_lock():
        code, _, err = run(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out"], capsys)
    assert code == 1
    assert "another scan is running" in err
    assert not (tmp_path / "out").exists()


def test_market_wide_day_is_called_market_wide(tmp_path, capsys):
    # 2024-09-30: 深证成指 +10.7 %, 上证指数 +8.1 %; nearly every stock rose (real sample data).
    cfg = small_config(tmp_path, symbols=("002230", "000021", "300033", "600031", "002415"))
    code, _, _ = run(["scan", "--config", cfg, "--date", "2024-09-30", "--out", tmp_path / "out"], capsys)
    assert code == 0
    events = json.loads((tmp_path / "out" / "2024-09-30" / "events.json").read_text(encoding="utf-8"))
    events = events if isinstance(events, list) else events["events"]
    up = [e for e in events if (e["anomaly"] or {}).get("magnitude", 0) > 0]
    assert up, "the rally day should flag rising stocks"
    assert all(e["verdict"] == "market_wide" for e in up)
    assert all("market moved together" in e["explanation"] for e in up)


def test_swap_replaces_the_report_in_one_step(tmp_path):
    from anomaly.scan import _swap_in

    final, new = tmp_path / "2023-05-24", tmp_path / ".2023-05-24-new"
    final.mkdir()
    (final / "report.md").write_text("old", encoding="utf-8")
    new.mkdir()
    (new / "report.md").write_text("new", encoding="utf-8")
    _swap_in(new, final)
    assert (final / "report.md").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2023-05-24"]


def test_killed_two_step_swap_is_repaired(tmp_path, capsys):
    # Where the atomic exchange is unavailable the old report is moved aside first; a scan killed
    # between the two renames leaves only `.DATE.old-PID`. The next scan restores it before working.
    from anomaly.scan import _clean_leftovers

    out = tmp_path / "out"
    aside = out / ".2023-05-24.old-12345"
    aside.mkdir(parents=True)
    (aside / "report.md").write_text("old report", encoding="utf-8")
    (out / ".2023-05-24-abc").mkdir()  # a half-written temp report
    store = Store(tmp_path / "store")
    (tmp_path / "store" / "bars" / "daily").mkdir(parents=True)
    (tmp_path / "store" / "bars" / "daily" / ".tmp-dead").write_bytes(b"partial")
    import datetime as dt
    _clean_leftovers(store, out, [dt.date(2023, 5, 24)])
    assert (out / "2023-05-24" / "report.md").read_text(encoding="utf-8") == "old report"
    assert sorted(p.name for p in out.iterdir()) == ["2023-05-24"]
    assert not (tmp_path / "store" / "bars" / "daily" / ".tmp-dead").exists()


@pytest.mark.parametrize("universe, args, says", [
    ("watchlist", [], "2020-01-02..2024-12-31 for most of these symbols, not the latest session ("),
    ("watchlist", ["--date", "2025-03-03"], "2020-01-02..2024-12-31 for most of these symbols, not 2025-03-03;"),
    ("watchlist", ["--start", "2024-12-30", "--end", "2025-01-03"], "2020-01-02..2024-12-31 for most of these "
                                                                    "symbols, not 2025-01-02;"),
    ("sample", ["--date", "2021-03-01"], "2022-01-04..2024-12-31 for most of these symbols, not 2021-03-01;"),  # the panel
])
def test_sample_scan_outside_the_bundled_years_is_one_clear_line(tmp_path, run_cli, universe, args, says):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'store = "{tmp_path / "store"}"\n[source]\ndefault = "sample"\n[universe]\nname = "{universe}"\n',
                   encoding="utf-8")
    r = run_cli(["scan", "--config", cfg, "--out", tmp_path / "out", "--no-plots", *args])
    assert r.code == 2
    assert r.err_lines[-1].startswith("error: the bundled sample covers " + says)
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()
