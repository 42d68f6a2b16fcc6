"""The report: ranking, escaping of untrusted text, self-contained HTML, byte-identical reruns."""
from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from importlib import resources
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from anomaly import report as rp
from anomaly.schema import ANOMALY_COLUMNS, TZ

PNG_SIG = b"\x89PNG\r\n\x1a\n"
EVIL_TITLE = "<script>alert(1)</script> 科大讯飞 | *bold* [x](javascript:alert(2)) `code` & $x$"


def anomaly(symbol="002230", magnitude=-0.0946, p=1.2e-5, kind="intraday_range_drop", **details) -> dict:
    return {"symbol": symbol, "kind": kind, "start": "2023-05-24T15:00:00+08:00",
            "end": "2023-05-24T15:00:00+08:00", "magnitude": magnitude, "reference": "prev_close",
            "score": -4.8, "p_value": p, "details": details}


def news(title="科大讯飞回应：小作文不实", role="clarification", kind="statement", url="https://example.com/a",
         ts="2023-05-24T13:00:00+08:00", prec="session", reasons=("code in title",)) -> dict:
    return {"id": f"n{abs(hash((title, ts))) % 10**8}", "ts": ts, "ts_precision": prec, "source": "e公司",
            "kind": kind, "title": title, "url": url, "role": role, "score": 0.8, "reasons": list(reasons)}


def event(symbol="002230", name="科大讯飞", verdict="news_linked", magnitude=-0.0946, p=1.2e-5,
          severity=None, items=None, **over) -> dict:
    e = {"id": f"{symbol}@2023-05-24", "symbol": symbol, "name": name, "date": "2023-05-24",
         "onset": "2023-05-24T13:01:00+08:00", "onset_precision": "minute",
         "anomaly": anomaly(symbol, magnitude, p, close_return=-0.0426), "anomalies": [anomaly(symbol, magnitude, p)],
         "news": items if items is not None else [news()], "verdict": verdict, "cross_section": None,
         "event_study": {"benchmark": "399001.SZ",
                         "estimation": {"start": "2022-05-16", "end": "2023-05-09", "n": 230, "alpha": 0.0004,
                                        "beta": 1.25, "sigma": 0.027},
                         "windows": [{"window": "[0,0]", "car": -0.0327, "t": -1.21, "p": 0.227},
                                     {"window": "[-1,1]", "car": -0.041, "t": -0.9, "p": 0.37}]},
         "recovery": 0.5492, "explanation": f"{name} 午后闪崩 −9.46%，收盘 −4.26%"}
    if severity is not None:
        e["severity"] = severity
    e.update(over)
    return e


def rumor_event(**kw) -> dict:
    return event(items=[news("小作文：科大讯飞非法收集用户数据", role="precursor", kind="social",
                             ts="2023-05-24T00:00:00+08:00", prec="day", url=None),
                        news()], **kw)


def tiny_png(_event) -> bytes:
    from anomaly.plot import event_plot_png

    b = pd.DataFrame({"symbol": _event["symbol"],
                      "ts": pd.date_range("2023-05-22 15:00", periods=3, freq="D", tz=TZ),
                      "open": [59.0, 59.0, 59.08], "high": [60.0, 60.0, 59.56], "low": [58.0, 58.0, 53.5],
                      "close": [59.0, 59.09, 56.57], "volume": [1e6, 1e6, 2.45e6]})
    return event_plot_png(_event, b, dpi=40)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html_text: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(html_text)
    return p.tags


# --- ranking ---------------------------------------------------------------------------------------


def test_ranking_puts_rumors_and_big_significant_moves_first():
    evs = [
        event("000001", "平安银行", verdict="market_wide", magnitude=-0.12, p=1e-9, severity=50),
        event("600519", "贵州茅台", verdict="sector_wide", magnitude=-0.08, p=1e-6),
        event("000002", "万科Ａ", verdict="news_linked", magnitude=-0.03, p=0.2),
        event("000063", "中兴通讯", verdict="no_public_news", magnitude=-0.09, p=1e-4),
        rumor_event(symbol="002230", magnitude=-0.0946, p=1.2e-5),
        rumor_event(symbol="300033", name="同花顺", magnitude=-0.05, p=0.01),
        event("000725", "京东方Ａ", verdict="news_linked", magnitude=0.095, p=1e-5),
    ]
    order = [e["symbol"] for e in rp.rank_events(evs)]
    assert order == ["002230", "300033", "000725", "000063", "000002", "600519", "000001"]
    assert [rp.tier(e) for e in rp.rank_events(evs)] == [0, 0, 1, 1, 1, 2, 3]


def test_ranking_uses_severity_then_magnitude_then_p_then_id():
    a = event("000001", magnitude=-0.05, p=0.01, severity=2.0)
    b = event("000002", magnitude=-0.09, p=0.01, severity=1.0)
    assert [e["symbol"] for e in rp.rank_events([b, a])] == ["000001", "000002"]
    c = event("000003", magnitude=-0.05, p=0.01, severity=1.0)
    d = event("000004", magnitude=-0.05, p=0.001, severity=1.0)
    e = event("000005", magnitude=-0.05, p=0.001, severity=1.0)
    assert [x["symbol"] for x in rp.rank_events([e, c, d])] == ["000004", "000005", "000003"]
    # Without severity: |magnitude| x significance decides.
    f = event("000006", magnitude=-0.02, p=1e-8)
    g = event("000007", magnitude=-0.09, p=1e-3)
    assert rp.priority(g) > rp.priority(f)
    assert rp.rank_events([f, g])[0]["symbol"] == "000007"


def test_rumor_detection_uses_role_kind_and_cues():
    assert rp.is_rumor_linked(rumor_event())
    assert not rp.is_rumor_linked(event())  # a clarification is not a rumor
    cue = event(items=[news("网传某公司被调查", role="concurrent", kind="news")])
    assert rp.is_rumor_linked(cue)
    later = event(items=[news("网传某公司被调查", role="response", kind="social")])
    assert not rp.is_rumor_linked(later)  # chatter after the move did not lead it


# --- machine outputs ------------------------------------------------------------------------------


def test_events_to_json_is_utf8_sorted_and_clean():
    e = event()
    e["anomaly"]["details"] = {"b": np.float64("nan"), "a": np.int64(3), "t": pd.Timestamp("2023-05-24 13:01", tz=TZ)}
    text = rp.events_to_json([e, rumor_event(symbol="300033")])
    assert "科大讯飞" in text and "\\u" not in text
    data = json.loads(text)
    assert [d["symbol"] for d in data] == ["300033", "002230"]  # rank order
    assert data[1]["anomaly"]["details"] == {"a": 3, "b": None, "t": "2023-05-24T13:01:00+08:00"}
    assert text == rp.events_to_json([rumor_event(symbol="300033"), e])  # input order does not matter
    assert list(data[0].keys()) == sorted(data[0].keys())


def test_anomalies_to_csv_canonical_and_round_trips():
    recs = [anomaly("300033", -0.05, 0.01, note="同花顺"), anomaly("002230")]
    text = rp.anomalies_to_csv(pd.DataFrame(recs))
    assert text.splitlines()[0] == ",".join(ANOMALY_COLUMNS)
    back = pd.read_csv(StringIO(text), dtype={"symbol": str})
    assert list(back["symbol"]) == ["002230", "300033"]
    assert json.loads(back.loc[1, "details"]) == {"note": "同花顺"}
    assert back.loc[0, "magnitude"] == pytest.approx(-0.0946)
    assert rp.anomalies_to_csv(None).strip() == ",".join(ANOMALY_COLUMNS)
    assert rp.anomalies_to_csv(recs) == text


# --- escaping --------------------------------------------------------------------------------------


def test_html_escapes_untrusted_text_and_only_links_http(tmp_path):
    bad = event(items=[news(EVIL_TITLE, url="javascript:alert(1)"),
                       news("正常标题", url="https://www.example.com/x?a=1&b=<2>", ts="2023-05-24T15:40:56+08:00",
                            prec="second", role="response"),
                       news("数据链接", url="data:text/html,<script>alert(3)</script>", role="response",
                            ts="2023-05-24T16:00:00+08:00", prec="minute")],
                source="<img src=x onerror=alert(4)>")
    bad["name"] = "<b>科大讯飞</b>"
    bad["explanation"] = '"><script>alert(5)</script>'
    paths = rp.write_report(tmp_path, "2023-05-24", [bad], [bad["anomaly"]],
                            {"<svg onload=alert(6)>": "boom <script>"}, {"source": "<i>sample</i>"})
    html_text = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<svg" not in html_text and "<b>科大讯飞" not in html_text and "<i>sample" not in html_text
    tags = parse(html_text)
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link", "svg")]
    hrefs = [a.get("href") for t, a in tags if t == "a" and a.get("href") and not a["href"].startswith("#")]
    assert hrefs == ["https://www.example.com/x?a=1&b=<2>"]  # parser unescapes &amp; / &lt;
    assert 'href="https://www.example.com/x?a=1&amp;b=&lt;2&gt;"' in html_text
    for _t, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), attrs
    assert "javascript:alert(1)" in html_text  # shown as text, not a link
    assert '<meta charset="utf-8">' in html_text and "Content-Security-Policy" in html_text
    assert "科大讯飞" in html_text  # Chinese kept as is


def test_markdown_escapes_titles_and_links_only_http(tmp_path):
    bad = event(items=[news(EVIL_TITLE, url="javascript:alert(1)"),
                       news("正常 (标题)", url="https://example.com/a b(c)", role="response"),
                       news("好链接", url="https://example.com/p?q=(1)", role="response",
                            ts="2023-05-24T16:00:00+08:00", prec="minute")])
    paths = rp.write_report(tmp_path, "2023-05-24", [bad], [], [], {})
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "<script>" not in text and "\\<script\\>" in text
    assert not re.search(r"(?<!\\)\]\(javascript", text) and "\\[x\\](javascript:alert(2))" in text
    assert "\\*bold\\*" in text and "\\`code\\`" in text and "\\$x\\$" in text and "\\&" in text
    assert "[好链接](https://example.com/p?q=%281%29)" in text
    assert "https://example.com/a b(c)" not in text.replace("\\", "")  # URL with a space: not a link
    # every table row of the news table keeps its 8 columns (the title's "|" is escaped)
    rows = [l for l in text.splitlines() if l.startswith("| 1 |") or l.startswith("| 2 |") or l.startswith("| 3 |")]
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 9, row


def test_safe_url():
    assert rp.safe_url("https://a.example/x") == "https://a.example/x"
    assert rp.safe_url("HTTP://a.example") == "HTTP://a.example"
    for u in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:x", "data:text/html,x", "ftp://a/b",
              "//evil.example/x", "https://", "https://a.example/\nx", "http://a b", None, 5, "vbscript:x"):
        assert rp.safe_url(u) is None, u


# --- the report files -------------------------------------------------------------------------------


def test_report_files_summary_failures_and_plots(tmp_path):
    evs = [event("000001", "平安银行", verdict="market_wide", magnitude=-0.03, p=0.3, items=[]),
           rumor_event()]
    anoms = pd.DataFrame([e["anomaly"] for e in evs])
    paths = rp.write_report(tmp_path, "2023-05-24", evs, anoms,
                            [{"symbol": "300999", "error": "SourceError: upstream timed out"}, ("688001", "no bars")],
                            {"universe_size": 292, "source": "sample"}, plot=tiny_png)
    for k in ("markdown", "html", "events", "anomalies", "summary"):
        assert paths[k].is_file() and paths[k].stat().st_size > 0
    assert [p.name for p in paths["plots"]] == ["002230.png", "000001.png"]
    assert all(p.read_bytes()[:8] == PNG_SIG for p in paths["plots"])
    md_text = paths["markdown"].read_text(encoding="utf-8")
    assert "- **universe**: 292 symbols" in md_text
    assert "**anomalies**: 2" in md_text and "**events**: 2" in md_text and "**rumor-linked**: 1" in md_text
    assert "market\\_wide 1, sector\\_wide 0" in md_text
    assert md_text.index("## 1. 科大讯飞 002230") < md_text.index("## 2. 平安银行 000001")
    assert "| close return | −4.26% |" in md_text
    assert "| recovery | 55% of the move retraced by the close |" in md_text
    assert "| AR \\[0,0\\] | −3.27% (t −1.21, p 0.227) |" in md_text
    assert "| CAR \\[-1,1\\] | −4.10% (t −0.90, p 0.370) |" in md_text
    assert "![event plot 002230](plots/002230.png)" in md_text
    fail = md_text[md_text.index("## Failures"):]
    assert "| 300999 | SourceError: upstream timed out |" in fail and "| 688001 | no bars |" in fail
    html_text = paths["html"].read_text(encoding="utf-8")
    imgs = [a["src"] for t, a in parse(html_text) if t == "img"]
    assert len(imgs) == 2 and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html_text.split("<h3>Linked news")[0])
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert summary["rank"] == ["002230@2023-05-24", "000001@2023-05-24"]
    assert [f["symbol"] for f in summary["failures"]] == ["300999", "688001"]


def test_scan_style_failures_and_meta(tmp_path):
    """The scan passes failures as "SYMBOL: error" strings and the universe size as n_symbols."""
    paths = rp.write_report(tmp_path, "2023-05-24", [event()], [], ["300999: SourceError: timed out", "odd failure"],
                            {"date": "2023-05-24", "universe": "sample", "n_symbols": 292, "source": "sample"})
    md_text = paths["markdown"].read_text(encoding="utf-8")
    assert "- **universe**: 292 symbols" in md_text and "- universe: sample" in md_text
    assert "| 300999 | SourceError: timed out |" in md_text and "| ? | odd failure |" in md_text


def test_event_study_extras_cross_section_and_notes(tmp_path):
    e = event(verdict="market_wide", notes=["window [0,5]: 3 of 6 days available"],
              cross_section={"market": {"share": 0.71, "n": 292, "moved_together": True}})
    e["event_study"]["recovery"] = {"ar0": -0.0327, "car_after": 0.012, "after": "[1,5]", "fraction": 0.37}
    e["event_study"]["windows"].append({"window": "[0,5]", "car": None, "t": None, "p": None, "complete": False})
    text = rp.write_report(tmp_path, "2023-05-24", [e], [], None, None)["markdown"].read_text(encoding="utf-8")
    assert "| reversal | CAR \\[1,5\\] +1.20% (37% of AR\\[0,0\\] reversed) |" in text
    assert "| cross-section market | moved together (share 71% of 292) |" in text
    assert "| CAR \\[0,5\\] | — (t —, p —) (incomplete window) |" in text
    assert "| notes | window \\[0,5\\]: 3 of 6 days available |" in text


def test_news_numbers_match_the_plot_order(tmp_path):
    items = [news("后来的回应", role="response", ts="2023-05-24T16:28:10+08:00", prec="second"),
             news("小作文", role="precursor", kind="social", ts="2023-05-24T00:00:00+08:00", prec="day"),
             news("下午澄清", role="clarification", ts="2023-05-24T13:00:00+08:00", prec="session")]
    paths = rp.write_report(tmp_path, "2023-05-24", [event(items=items)], [], None, None)
    text = paths["markdown"].read_text(encoding="utf-8")
    assert text.index("| 1 | 2023-05-24 (day) | precursor") < text.index("| 2 | 2023-05-24 \\~13:00–15:00 | clarification")
    assert "| 3 | 2023-05-24 16:28:10 | response" in text


def test_rerun_is_byte_identical(tmp_path):
    evs = [rumor_event(), event("000001", "平安银行", verdict="market_wide", items=[])]
    anoms = [e["anomaly"] for e in evs]
    a = rp.write_report(tmp_path / "a", "2023-05-24", evs, anoms, {"300999": "timeout"},
                        {"universe_size": 2}, plot=tiny_png)
    b = rp.write_report(tmp_path / "b", "2023-05-24", list(reversed(copy.deepcopy(evs))), list(reversed(anoms)),
                        {"300999": "timeout"}, {"universe_size": 2}, plot=tiny_png)
    for k in ("events", "anomalies", "summary", "markdown", "html"):
        assert a[k].read_bytes() == b[k].read_bytes(), k
    first = a["events"].read_bytes()
    rp.write_report(tmp_path / "a", "2023-05-24", evs, anoms, {"300999": "timeout"}, {"universe_size": 2},
                    plot=tiny_png)
    assert a["events"].read_bytes() == first
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_existing_plot_files_are_used_and_a_failing_plot_does_not_sink_the_report(tmp_path):
    (tmp_path / "plots").mkdir()
    png = tiny_png(event())
    (tmp_path / "plots" / "002230.png").write_bytes(png)
    paths = rp.write_report(tmp_path, "2023-05-24", [event()], [], None, None)
    assert paths["plots"] == [tmp_path / "plots" / "002230.png"]
    assert "data:image/png;base64," in paths["html"].read_text(encoding="utf-8")

    def broken(_e):
        raise RuntimeError("font cache exploded <script>")

    out = tmp_path / "other"
    paths = rp.write_report(out, "2023-05-24", [event()], [], None, None, plot=broken)
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "RuntimeError: font cache exploded \\<script\\>" in text
    assert json.loads(paths["summary"].read_text(encoding="utf-8"))["failures"] == []


def test_empty_night(tmp_path):
    paths = rp.write_report(tmp_path, "2023-05-24", [], None, None, {"universe_size": 292})
    md_text = paths["markdown"].read_text(encoding="utf-8")
    assert "No events." in md_text and "**events**: 0" in md_text
    assert json.loads(paths["events"].read_text(encoding="utf-8")) == []


def test_with_the_real_sample_event_plot(tmp_path):
    """End to end on the bundled real bars: the 002230 event with the bundled news gets a real plot."""
    with resources.files("anomaly.data").joinpath("sample/bars_daily.parquet").open("rb") as fh:
        bars = pd.read_parquet(fh)
    bars = bars[bars["symbol"].isin(["002230", "399001.SZ"])].copy()
    bars["ts"] = pd.to_datetime(bars["date"]).dt.tz_localize(TZ) + pd.Timedelta(hours=15)
    from anomaly.plot import event_plot_png

    paths = rp.write_report(tmp_path, "2023-05-24", [rumor_event()], [], None, {"universe_size": 1},
                            plot=lambda e: event_plot_png(e, bars, bars, dpi=60))
    data = paths["plots"][0].read_bytes()
    assert data[:8] == PNG_SIG and len(data) > 20_000


@pytest.mark.parametrize("recovery, row", [
    ({"ar0": -0.0327, "car_after": 0.012, "after": "[1,5]", "fraction": 0.37},
     "| reversal | CAR \\[1,5\\] +1.20% (37% of AR\\[0,0\\] reversed) |"),
    ({"ar0": 0.1074, "car_after": 0.1862, "after": "[1,5]", "fraction": -1.73},       # 002654 on 2023-05-24
     "| continuation | CAR \\[1,5\\] +18.62% (the move continued: 173% of AR\\[0,0\\] more) |"),
    ({"ar0": 0.0001, "car_after": -0.0504, "after": "[1,5]", "fraction": 504.0},      # AR[0,0] ≈ 0: no share
     "| after the event | CAR \\[1,5\\] −5.04% |"),
])
def test_reversal_and_continuation_are_named_as_such(tmp_path, recovery, row):
    e = event()
    e["event_study"]["recovery"] = recovery
    text = rp.write_report(tmp_path, "2023-05-24", [e], [], None, None)["markdown"].read_text(encoding="utf-8")
    assert row in text


@pytest.mark.parametrize("p, shown", [(None, "—"), (0.0, "<1e-6"), (4e-7, "<1e-6"), (2e-5, "2.0e-05"),
                                      (0.156, "0.156")])
def test_p_values_below_the_stored_precision_are_not_zero(p, shown):
    assert rp._p(p) == shown


@pytest.mark.parametrize("onset, precision, shown", [
    ("2023-05-24T09:30:00+08:00", "day", "2023-05-24 (daily bars: time of day unknown)"),
    ("2023-05-24T13:01:00+08:00", "minute", "2023-05-24 13:01:00 (minute)"),
    (None, None, "—"),
])
def test_onset_says_how_precisely_it_is_known(onset, precision, shown):
    assert rp._onset({"onset": onset, "onset_precision": precision}) == shown
