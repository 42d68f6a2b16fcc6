"""Untrusted text (news titles, sources, URLs, failure messages, symbols): escaped in reports, inert in
plots and on the terminal; store queries are parameterized and store paths are literal."""
from __future__ import annotations

import datetime as dt
import html.parser
import json
import re
import shutil

import matplotlib
import pandas as pd
import pytest

import rt_support as rt
from anomaly.errors import BadInput
from anomaly.news import read_news_file
from anomaly.store import Store

matplotlib.use("Agg")

TITLES = [
    "科大讯飞<script>alert(1)</script>",
    "科大讯飞<img src=x onerror=alert(1)>",
    "科大讯飞 [点我](javascript:alert(1)) ![x](http://evil.example/x.png) <https://evil.example>",
    "科大讯飞 $\\frac{a}{b}$ 与未闭合的 $x^{",
    "科大讯飞 \x1b[2J\x1b]0;pwned\x07 终端控制序列",
    "科大讯飞 \u202egnp.exe 反转 \u200b零宽",
    "科大讯飞 | 表格 | 注入 |\n# 标题注入\n- 列表",
    "科大讯飞 &lt;already&gt; &amp; <!-- c --> ]]> {{7*7}} ${7*7}",
    "科大讯飞 \x00 NUL 与 \x7f DEL",
]
URLS = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", 'https://ok.example/a"><script>x</script>',
        "  JaVaScRiPt:alert(1)", "vbscript:msgbox", "//evil.example/x", "https://ok.example/a b", None, "file:///etc/passwd"]
SOURCES = ["<svg onload=alert(1)>", "网传", "\x1b[31mred", "a|b", "<b>bold</b>", "s", "s", "s", "s"]

FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "form", "input", "link", "base", "frame",
                  "frameset", "applet", "meta-refresh", "style-import"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class TagAudit(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.problems = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for k, v in attrs:
            v = (v or "").strip().lower()
            if k.startswith("on"):
                self.problems.append(f"{tag} {k}=")
            if k in ("href", "src", "action", "formaction", "xlink:href", "poster", "background"):
                ok = v.startswith("#") or re.match(r"^https?://[^\s]", v) or (
                    k == "src" and tag == "img" and v.startswith("data:image/png;base64,"))
                if not ok:
                    self.problems.append(f"{tag} {k}={v[:60]!r}")
            if k == "style" and ("url(" in v or "expression" in v):
                self.problems.append(f"{tag} style={v[:60]!r}")


def audit(html_text: str) -> list[str]:
    a = TagAudit()
    a.feed(html_text)
    a.close()
    return a.problems


def hostile_news_file(tmp_path):
    p = tmp_path / "hostile.jsonl"
    with p.open("w", encoding="utf-8") as fh:
        for i, (t, u, s) in enumerate(zip(TITLES, URLS, SOURCES)):
            row = {"ts": f"2023-05-24 13:{10 + i:02d}", "symbol": "002230", "source": s, "kind": "social",
                   "title": t, "body": f"<script>b{i}</script>", "url": u}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return p


def hostile_event():
    news = []
    for i, (t, u, s) in enumerate(zip(TITLES, URLS, SOURCES)):
        news.append({"id": f"n{i}", "ts": f"2023-05-24T13:{10 + i:02d}:00+08:00", "ts_precision": "minute",
                     "source": s, "kind": "social", "title": t, "url": u,
                     "role": ["precursor", "concurrent", "response", "clarification"][i % 4], "score": 0.9 - i / 20,
                     "reasons": ["<b>why</b> $x$", "\x1b[31m"]})
    return {"id": "002230@2023-05-24", "symbol": "002230", "name": "科大讯飞<i>", "date": rt.DATE,
            "onset": "2023-05-24T13:01:00+08:00", "onset_precision": "minute",
            "anomaly": {"symbol": "002230", "kind": "range_crash<script>", "start": "2023-05-24T15:00:00+08:00",
                        "end": "2023-05-24T15:00:00+08:00", "magnitude": -0.0946, "reference": "prev_close\"><b>",
                        "score": -4.56, "p_value": None, "details": {"x": "<script>"}},
            "anomalies": [{"symbol": "002230", "kind": "<img src=x onerror=alert(2)>", "magnitude": -0.0946,
                           "reference": "prev_close", "score": -4.56, "p_value": 0.001}],
            "news": news, "verdict": "news_linked\" onmouseover=\"alert(1)", "cross_section": None,
            "event_study": None, "recovery": 0.5, "severity": 3.0,
            "explanation": "<iframe src=javascript:alert(6)></iframe> $\\frac{1}{0}$ \x1b[2J"}


def test_news_reader_keeps_hostile_text_as_data(tmp_path):
    df = read_news_file(hostile_news_file(tmp_path))
    assert len(df) == len(TITLES)
    assert set(df["title"]) == {t.strip() for t in TITLES}


def test_report_escapes_hostile_text(tmp_path):
    from anomaly.report import write_report

    fails = ["000021: <script>alert('fail')</script>", "../../etc: \x1b[2J", "x' OR 1=1: <img src=x onerror=y>"]
    paths = write_report(tmp_path / "rep", rt.DATE, [hostile_event()], None, fails,
                         {"source": "<b>s</b>", "note": "javascript:alert(1)"})
    page = paths["html"].read_text(encoding="utf-8")
    assert audit(page) == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not CONTROL.search(page)
    md = paths["markdown"].read_text(encoding="utf-8")
    assert not CONTROL.search(md)
    assert not re.search(r"(?<!\\)<", md), "unescaped < in report.md"
    assert not re.search(r"(?<!\\)\]\(\s*(javascript|data|vbscript|file):", md, re.I)   # an unescaped link
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # the regex checks above still hold
        MarkdownIt = None
    if MarkdownIt is not None:
        rendered = MarkdownIt("commonmark").render(md)
        assert audit(rendered) == []
        assert "<img" not in rendered
    ev = json.loads(paths["events"].read_text(encoding="utf-8"))
    assert [n["title"] for n in ev[0]["news"]][:1] == [TITLES[0]]       # JSON keeps the data as data


def test_plot_renders_hostile_titles_inertly():
    from matplotlib.text import Text

    from anomaly.plot import plot_event
    from anomaly.sources.sample import sample_daily_bars

    bars = sample_daily_bars()
    ev = hostile_event()
    ev["name"] = "科大讯飞 $\\frac{$"
    fig = plot_event(ev, bars[bars["symbol"] == "002230"], index_bars=bars[bars["symbol"] == "399001.SZ"])
    try:
        texts = [t for t in fig.findobj(Text) if "$" in t.get_text() or "\\" in t.get_text()]
        assert texts, "no untrusted text drawn at all?"
        assert [t.get_text() for t in texts if t.get_parse_math() or t.get_usetex()] == []
        import io
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    """A store with the sample bars of 002230 and 399001.SZ and the hostile news of 2023-05-24."""
    from anomaly.fetch import fetch
    from anomaly.sources.sample import SampleSource
    from anomaly.symbols import resolve

    root = tmp_path_factory.mktemp("hostile")
    store = Store(root / "store")
    res = fetch(store, SampleSource(), [resolve("002230"), resolve(rt.BENCH)], dt.date(2022, 1, 1),
                dt.date(2023, 6, 30))
    assert all(r.ok for r in res)
    assert store.write_news(read_news_file(hostile_news_file(root))) == len(TITLES)
    return root


def test_full_scan_with_plots_on_hostile_news(hostile_store, cli, tmp_path):
    """The one plotted scan: hostile news linked to the real 2023-05-24 event; report escaped, plot drawn."""
    store = tmp_path / "store"
    shutil.copytree(hostile_store / "store", store)
    cfg = rt.write_config(tmp_path / "c.toml", store, source="store", watch=["002230"], plots=True)
    out = tmp_path / "out"
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", out])
    assert r.code == 0, r.err
    day = out / rt.DATE
    events = json.loads((day / "events.json").read_text(encoding="utf-8"))
    linked = {n["title"] for e in events for n in e["news"]}
    assert linked & {t.strip() for t in TITLES}, "hostile news not linked: the test would prove nothing"
    assert audit((day / "report.html").read_text(encoding="utf-8")) == []
    md = (day / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<", md) and not CONTROL.search(md)
    pngs = sorted((day / "plots").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((day / "summary.json").read_text(encoding="utf-8"))
    assert summary["plot_errors"] == []


@pytest.mark.parametrize("argv", [
    ["news", "002230", "--start", rt.DATE, "--end", rt.DATE],
    ["news", "002230", "--start", rt.DATE, "--end", rt.DATE, "--format", "json"],
    ["link", "002230", "--date", rt.DATE],
], ids=["news table", "news json", "link table"])
def test_terminal_output_carries_no_control_sequences(argv, hostile_store, cli):
    """Untrusted titles printed to a terminal must not carry ESC/BEL/NUL or bidi overrides: an
    ``ESC ] 0 ;`` sequence retitles the window, ``ESC [ 2 J`` clears it, U+202E reverses text."""
    r = cli([*argv, "--store", hostile_store / "store"])
    assert r.code == 0, r.err
    assert "科大讯飞" in r.out
    # JSON is machine output: only C0 controls matter there (JSON escapes them as \u001b …)
    pattern = re.compile(r"[\x00-\x09\x0b-\x1f]") if "json" in argv else CONTROL
    bad = sorted({repr(c) for c in pattern.findall(r.out)})
    assert bad == [], bad


# --- store: parameterized queries, literal paths --------------------------------------------------------


@pytest.fixture(scope="module")
def results_store(tmp_path_factory):
    """Stores with one scan's results, under folder names full of quote and glob characters."""
    from anomaly.config import Config
    from anomaly.scan import run_scan

    base = tmp_path_factory.mktemp("q")
    made = {}
    for name in ["plain", "it's", "a*b", "axyzb", "br[ack]et", "q?m"]:
        st = Store(base / name / "store")
        run_scan(Config(), day=rt.day(), out=base / name / "out", plots=False, store=st, source="sample",
                 echo=lambda m: None)
        made[name] = st
    return made


@pytest.mark.parametrize("value", ["002230' OR '1'='1", "x'); DROP VIEW events; --", "%", "002230\x00",
                                   "'; COPY events TO '/tmp/pwned.csv'; --"])
def test_store_query_values_are_parameters(value, results_store, tmp_path):
    st = results_store["plain"]
    n = st.query("select count(*) as n from events where symbol = ?", [value])["n"].tolist()
    assert n == [0]
    assert st.query("select count(*) as n from events where symbol = ?", ["002230"])["n"].tolist() == [1]
    assert not (tmp_path / "pwned.csv").exists()


@pytest.mark.parametrize("name", ["it's", "a*b", "br[ack]et", "q?m"])
def test_store_query_with_quote_and_glob_characters_in_the_path(name, results_store):
    """The store folder is a literal path: ``a*b`` must not also read the sibling store ``axyzb``,
    ``br[ack]et`` must not fail to find its own files."""
    st = results_store[name]
    got = st.query("select count(*) as n from events")["n"].tolist()
    assert got == [1]


@pytest.mark.parametrize("sym", ["../../etc/passwd", "..", ".", "002230/../x", "a" * 40, "002230\x00", "00223\u0660"])
def test_store_refuses_unsafe_symbols_as_file_names(sym, tmp_path):
    st = Store(tmp_path / "store")
    bars = pd.DataFrame({c: [] for c in ["symbol", "ts", "open", "high", "low", "close", "prev_close", "volume",
                                         "amount", "turnover"]})
    with pytest.raises(BadInput, match="refusing unsafe symbol"):
        st.write_bars(bars, "daily", {sym: [(rt.day(), rt.day())]})
    with pytest.raises(BadInput, match="refusing unsafe symbol"):
        st.coverage(sym)
    assert sorted(p.name for p in (tmp_path / "store").rglob("*") if p.suffix == ".parquet") == []
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()
