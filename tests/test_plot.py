"""Event plots and CJK fonts: real PNGs, Chinese glyphs really present, no global matplotlib state.

Built on the bundled real daily bars (002230 and 399001.SZ around 2023-05-24) and the bundled
news timeline (roles assigned here by hand); intraday tests use seeded *synthetic* minute bars
with a planted 13:01 cliff to −9.46 % and a close at −4.26 %.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from importlib import resources

import matplotlib
import numpy as np
import pandas as pd
import pytest

from anomaly import fonts
from anomaly import plot as aplot
from anomaly import plotnews, plotstyle
from anomaly.errors import BadInput
from anomaly.schema import TZ

PNG_SIG = b"\x89PNG\r\n\x1a\n"
ROLES = ["precursor", "precursor", "clarification", "clarification", "response", "response",
         "clarification", "response", "response", "response"]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daily_bars() -> pd.DataFrame:
    with resources.files("anomaly.data").joinpath("sample/bars_daily.parquet").open("rb") as fh:
        b = pd.read_parquet(fh)
    b = b[b["symbol"].isin(["002230", "399001.SZ", "931071.CSI", "300033"])].copy()
    b["ts"] = pd.to_datetime(b["date"]).dt.tz_localize(TZ) + pd.Timedelta(hours=15)
    return b.drop(columns="date").reset_index(drop=True)


def sample_news() -> list[dict]:
    with resources.files("anomaly.data").joinpath("sample/news.csv").open("r", encoding="utf-8") as fh:
        news = pd.read_csv(fh)
    out = []
    for r, role in zip(news.itertuples(), ROLES):
        out.append({"id": f"n{r.Index}", "ts": pd.Timestamp(r.ts).isoformat(), "ts_precision": r.ts_precision,
                    "source": r.source, "kind": r.kind, "title": r.title,
                    "url": r.url if isinstance(r.url, str) else None, "role": role, "score": 0.8,
                    "reasons": ["code/name in title"]})
    return out


def make_event(**over) -> dict:
    ev = {"id": "002230@2023-05-24", "symbol": "002230", "name": "科大讯飞", "date": "2023-05-24",
          "onset": "2023-05-24T13:01:00+08:00", "onset_precision": "minute",
          "anomaly": {"symbol": "002230", "kind": "intraday_range_drop", "start": "2023-05-24T15:00:00+08:00",
                      "end": "2023-05-24T15:00:00+08:00", "magnitude": -0.0946, "reference": "prev_close",
                      "score": -4.8, "p_value": 1.2e-5, "details": {}},
          "anomalies": [], "news": sample_news(), "verdict": "news_linked", "cross_section": None,
          "event_study": {"benchmark": "399001.SZ",
                          "estimation": {"start": "2022-05-16", "end": "2023-05-09", "n": 230,
                                         "alpha": 0.0004, "beta": 1.25, "sigma": 0.027},
                          "windows": [{"window": "[0,0]", "car": -0.0327, "t": -1.21, "p": 0.227},
                                      {"window": "[-2,2]", "car": -0.051, "t": -0.85, "p": 0.40}]},
          "recovery": 0.5492, "severity": 3.2,
          "explanation": "午后闪崩 −9.46%，收盘 −4.26%；两则“小作文”在前，公司与券商澄清为不实"}
    ev.update(over)
    return ev


def synthetic_intraday(days=("2023-05-24",), seed: int = 7) -> pd.DataFrame:
    """SYNTHETIC 1-minute bars: calm morning, 13:01 cliff to 53.50 (−9.46 %), recovery to 56.57."""
    from anomaly.calendar import intraday_index

    rng = np.random.default_rng(seed)
    frames = []
    for day in days:
        idx = intraday_index([day], "1min")
        n = len(idx)
        close = np.empty(n)
        p = 59.08
        for i in range(120):
            p = min(max(p + rng.normal(0, 0.06), 58.4), 59.5)
            close[i] = p
        close[120:124] = [57.2, 55.1, 53.9, 54.3]
        m = n - 124
        noise = np.cumsum(rng.normal(0, 0.05, m))
        noise -= np.linspace(0, noise[-1], m)
        close[124:] = np.linspace(54.3, 56.57, m) + noise
        close[-1] = 56.57
        opn = np.concatenate([[59.08], close[:-1]])
        high = np.maximum(opn, close) + np.abs(rng.normal(0, 0.02, n))
        low = np.minimum(opn, close) - np.abs(rng.normal(0, 0.02, n))
        high[int(np.argmax(close[:120]))] = 59.56
        low[122] = 53.50
        vol = np.round(rng.gamma(2.0, 120000, n), -2)
        vol[120:135] *= np.linspace(12, 3, 15)
        frames.append(pd.DataFrame({"symbol": "002230", "ts": idx, "open": opn, "high": high, "low": low,
                                    "close": close, "prev_close": 59.09, "volume": vol,
                                    "amount": vol * (high + low) / 2, "turnover": np.nan}))
    return pd.concat(frames, ignore_index=True)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIG
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def all_texts(fig) -> list[str]:
    from matplotlib.text import Text

    fig.canvas.draw()  # materialise tick labels
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


needs_cjk = pytest.mark.skipif(fonts.find_cjk_font(False) is None, reason="no CJK font installed")


# --- fonts -----------------------------------------------------------------------------------------


@needs_cjk
def test_cjk_font_has_the_glyphs_we_draw():
    f = fonts.find_cjk_font(False)
    cmap = fonts.font_charmap(f.path, f.face_index)
    for ch in "科大讯飞闪崩跳水涨停跌停昨收小作文澄清回应深证成指":
        assert ord(ch) in cmap, f"{f.family} lacks {ch!r} (would render as tofu)"
    # The real glyph, not .notdef: FreeType maps the character to a non-zero glyph index.
    from matplotlib.ft2font import FT2Font

    ft = FT2Font(f.path, face_index=f.face_index)
    assert all(ft.get_char_index(ord(ch)) != 0 for ch in "科大讯飞闪崩")


@needs_cjk
def test_prefers_simplified_chinese_face():
    f = fonts.find_cjk_font(False)
    assert f.family in fonts.CJK_FAMILIES
    if any(e.name == "Noto Sans CJK SC" for e in matplotlib.font_manager.fontManager.ttflist):
        assert f.family == "Noto Sans CJK SC"


def test_env_var_disables_cjk(monkeypatch):
    monkeypatch.setenv(fonts.ENV_DISABLE, "1")
    assert fonts.find_cjk_font() is None
    assert fonts.label("科大讯飞", "iFlytek") == "iFlytek"
    assert fonts.families() == [fonts.LATIN_FAMILY]
    monkeypatch.setenv(fonts.ENV_DISABLE, "0")
    assert fonts.has_cjk() == (fonts.find_cjk_font(False) is not None)


def test_ascii_text_fallbacks():
    assert fonts.ascii_text("AI giant iFlytek stock nosedives") == "AI giant iFlytek stock nosedives"
    assert fonts.ascii_text("iFlytek via media (中国基金报 / e公司)", min_letters=3) == "iFlytek via media"
    assert fonts.ascii_text("AI'小作文'导致千亿AI龙头闪崩！公司怒了", "[news] NBD") == "[news] NBD"
    assert fonts.ascii_text("科大讯飞", "") == ""
    assert fonts.ascii_text("ＡＢＣ full width letters here") == "ABC full width letters here"


# --- the plots -------------------------------------------------------------------------------------


def test_daily_event_png_from_real_bars(daily_bars, tmp_path):
    out = tmp_path / "002230.png"
    fig = aplot.plot_event(make_event(), daily_bars, daily_bars, out=out)
    data = out.read_bytes()
    w, h = png_size(data)
    assert (w, h) >= (1300, 900) and w <= 1600 and h <= 1300
    assert 60_000 < len(data) < 2_000_000
    texts = all_texts(fig)
    joined = "\n".join(texts)
    if fonts.has_cjk():
        assert "科大讯飞 002230 · 2023-05-24 · news_linked · −9.46% vs prev_close" in joined
        assert "跌停 53.18 (−10%)" in joined and "涨停 65.00 (+10%)" in joined
        assert "昨收 59.09" in joined
        assert "最低 53.50 (−9.46%)" in joined and "收盘 56.57 (−4.26%)" in joined
        assert "2.45× 前日" in joined  # 110.47M vs 45.10M shares
        assert "深证成指 399001.SZ" in joined


def test_daily_axis_is_trading_time_without_gaps(daily_bars):
    fig = aplot.plot_event(make_event(), daily_bars, daily_bars)
    ax_v = fig.axes[2]
    xs = sorted(p.get_x() + p.get_width() / 2 for p in ax_v.containers[0])
    steps = np.diff(xs)
    assert len(xs) == 41  # 30 trading days before, the event day, 10 after
    assert np.allclose(steps, 1.0), "one ordinal step per trading day: no weekend/holiday gaps"
    labels = [t.get_text() for t in ax_v.get_xticklabels()]
    assert "05-24" in labels and labels[0].startswith("2023-")


def test_daily_context_window_and_date_column_input():
    with resources.files("anomaly.data").joinpath("sample/bars_daily.parquet").open("rb") as fh:
        raw = pd.read_parquet(fh)  # sample layout: a `date` column instead of canonical `ts`
    raw = raw[raw["symbol"].isin(["002230", "399001.SZ"])]
    fig = aplot.plot_event(make_event(), raw, raw, daily_context=(10, 3))
    assert len(fig.axes[2].containers[0]) == 14


def test_intraday_synthetic_png_and_minute_axis(daily_bars, tmp_path):
    ib = synthetic_intraday()
    out = tmp_path / "intraday.png"
    fig = aplot.plot_event(make_event(), daily_bars, daily_bars, intraday=ib, out=out,
                           note="SYNTHETIC intraday bars")
    png_size(out.read_bytes())
    ax_p, ax_v = fig.axes[0], fig.axes[2]
    line = max(ax_p.get_lines(), key=lambda l: len(l.get_xdata()))
    x = np.asarray(line.get_xdata(), dtype=float)
    assert x[0] == 0 and x[-1] == 240 and np.allclose(np.diff(x), 1.0), "lunch break takes no space"
    ticks = dict(zip(ax_v.get_xticks(), [t.get_text() for t in ax_v.get_xticklabels()]))
    assert ticks[120] == "11:30|13:00" and ticks[0] == "09:30" and ticks[240] == "15:00"
    joined = "\n".join(all_texts(fig))
    assert "SYNTHETIC" in joined
    if fonts.has_cjk():
        assert "最低 53.50 (−9.46%) 13:03" in joined
        assert "收盘 56.57 (−4.26%)" in joined


@pytest.mark.parametrize("onset,precision", [("2023-05-24T13:01:00+08:00", "minute"),
                                              ("2023-05-24T09:30:00+08:00", "day")])
def test_intraday_anomaly_shading_is_onset_to_trough(daily_bars, onset, precision):
    fig = aplot.plot_event(make_event(onset=onset, onset_precision=precision), daily_bars, None,
                           intraday=synthetic_intraday())
    from matplotlib.colors import to_rgba

    spans = [p for p in fig.axes[0].patches if p.get_facecolor()[:3] == to_rgba(aplot.SHADE)[:3]]
    assert len(spans) == 1
    x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert (x0, x1) == (120, 123)  # 13:00 (start of the 13:01 bar) → 13:03 trough


def test_intraday_multi_day_axis(daily_bars):
    ib = synthetic_intraday(("2023-05-24", "2023-05-25"))
    ib["prev_close"] = np.where(ib["ts"].dt.day == 24, 59.09, 56.57)
    fig = aplot.plot_event(make_event(news=[]), daily_bars, None, intraday=ib)
    ax_v = fig.axes[2]
    ticks = list(ax_v.get_xticks())
    assert 240 in ticks and 480 in ticks
    line = max(fig.axes[0].get_lines(), key=lambda l: len(l.get_xdata()))
    assert np.asarray(line.get_xdata())[-1] == 480


def test_news_positions_on_the_minute_axis():
    ib = pd.DataFrame({"ts": pd.date_range("2023-05-24 09:31", periods=2, freq="min", tz=TZ),
                       "day": pd.Timestamp("2023-05-24"), "x": [1.0, 2.0]})
    mk = lambda ts, prec: plotnews._Item(0, pd.Timestamp(ts, tz=TZ), prec, "response", "news", "s", "t")  # noqa: E731
    items = [mk("2023-05-24 13:00", "session"), mk("2023-05-24 15:40:56", "second"),
             mk("2023-05-24 00:00", "day"), mk("2023-05-24 12:10", "minute"), mk("2023-05-24 10:15", "minute"),
             mk("2023-05-24 09:00", "session"), mk("2023-05-26 00:00", "day")]
    gl, gr = plotnews._place_intraday(items, ib, 1.0)
    s13, post, day, lunch, morning, preopen, later = items
    assert (s13.x, s13.span) == (120, (120, 240))
    assert (day.x, day.span) == (0, (0, 240))
    assert lunch.x == 120                      # lunch-break news meets the 13:00 open
    assert morning.x == 45
    assert preopen.x == 0
    assert post.gutter and later.gutter and 240 < post.x < later.x
    assert gl == 0 and gr > 0


def test_news_numbering_is_chronological():
    news = sample_news()[::-1]
    ordered = aplot.news_order(news)
    assert [n["ts_precision"] for n in ordered[:2]] == ["day", "day"]
    ts = [pd.Timestamp(n["ts"]) for n in ordered]
    assert ts == sorted(ts)


def test_chinext_limits_are_20_percent(daily_bars):
    ev = make_event(id="300033@2023-05-24", symbol="300033", name="同花顺", news=[], event_study=None)
    fig = aplot.plot_event(ev, daily_bars, daily_bars)
    joined = "\n".join(all_texts(fig))
    assert "(+20%)" in joined and "(−20%)" in joined


def test_minimal_event_without_news_or_study_or_index(daily_bars):
    ev = {"symbol": "002230", "date": "2023-05-24"}
    fig = aplot.plot_event(ev, daily_bars[daily_bars["symbol"] == "002230"])
    assert fig.axes
    with pytest.raises(BadInput):
        aplot.plot_event(ev, daily_bars.iloc[0:0])
    with pytest.raises(BadInput):
        aplot.plot_event({"date": "2023-05-24"}, daily_bars)


def test_event_plot_png_bytes_and_path(daily_bars, tmp_path):
    p = tmp_path / "e.png"
    data = aplot.event_plot_png(make_event(), daily_bars, daily_bars, path=p, dpi=80)
    assert data[:8] == PNG_SIG and p.read_bytes() == data
    assert png_size(data)[0] == 960
    assert not list(tmp_path.glob("*.tmp"))


@needs_cjk
def test_no_tofu_every_drawn_character_has_a_glyph(daily_bars):
    fig = aplot.plot_event(make_event(), daily_bars, daily_bars, intraday=synthetic_intraday())
    f = fonts.find_cjk_font(False)
    cover = set(fonts.font_charmap(f.path, f.face_index)) | set(fonts.font_charmap(plotstyle._latin_path(), 0))
    missing = {ch for s in all_texts(fig) for ch in s if not ch.isspace() and ord(ch) not in cover}
    assert not missing, f"characters without a glyph: {sorted(missing)}"


def test_rcparams_untouched(daily_bars, tmp_path):
    before = dict(matplotlib.rcParams.copy())
    aplot.plot_event(make_event(), daily_bars, daily_bars, intraday=synthetic_intraday(), out=tmp_path / "a.png")
    aplot.plot_event(make_event(), daily_bars, daily_bars, out=tmp_path / "b.png", cjk=False)
    after = dict(matplotlib.rcParams.copy())
    assert before == after


def test_library_import_and_plot_use_no_pyplot_or_backend_switch(tmp_path):
    code = (
        "import sys\n"
        "import anomaly.plot, anomaly.report, anomaly.fonts\n"
        "assert 'matplotlib' not in sys.modules, 'importing the plot module must not import matplotlib'\n"
        "import matplotlib\n"
        "rc = dict(matplotlib.rcParams.copy())\n"
        "import pandas as pd\n"
        "from anomaly.schema import TZ\n"
        "b = pd.DataFrame({'symbol': '002230', 'ts': pd.date_range('2023-05-22 15:00', periods=3, freq='D', tz=TZ),\n"
        "                  'open': [59., 59., 59.08], 'high': [60., 60., 59.56], 'low': [58., 58., 53.5],\n"
        "                  'close': [59., 59.09, 56.57], 'volume': [1e6, 1e6, 2e6]})\n"
        f"anomaly.plot.event_plot_png({{'symbol': '002230', 'date': '2023-05-24'}}, b, path={str(tmp_path / 'x.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert dict(matplotlib.rcParams.copy()) == rc\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_no_font_fallback_warns_once_and_draws_ascii(daily_bars, monkeypatch, tmp_path):
    monkeypatch.setenv(fonts.ENV_DISABLE, "1")
    fonts._reset_warning_for_tests()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = aplot.plot_event(make_event(), daily_bars, daily_bars, out=tmp_path / "a.png")
        aplot.plot_event(make_event(), daily_bars, daily_bars, intraday=synthetic_intraday(),
                         out=tmp_path / "b.png")
        fonts.warn_missing()
    ours = [w for w in caught if issubclass(w.category, fonts.CJKFontMissing)]
    assert len(ours) == 1
    texts = all_texts(fig)
    bad = [t for t in texts if not fonts.is_ascii_safe(t)]
    assert not bad, f"non-ASCII text in fallback mode (would be tofu): {bad}"
    joined = "\n".join(texts)
    assert "002230 · 2023-05-24 · news_linked" in joined
    assert "limit down 53.18 (−10%)" in joined
    assert "[social] social media / chat groups" in joined   # Chinese title → kind + source
    assert "AI giant iFlytek stock" in joined                 # English title kept
    png_size((tmp_path / "b.png").read_bytes())
    fonts._reset_warning_for_tests()


def test_untrusted_text_is_inert(daily_bars):
    evil = [{"id": "e1", "ts": "2023-05-24T13:05:00+08:00", "ts_precision": "minute", "source": "x$y$z",
             "kind": "news", "title": r"$\frac{1}{0}$ \x \u202e<b>标题</b>" + "\x1b[31m\x00red$", "role": "concurrent",
             "url": "javascript:alert(1)"}]
    ev = make_event(news=evil, name="$\\alpha$", explanation="unbalanced $ \\sqrt{ mathtext ^_^",
                    verdict="news_linked\n\rinjected")
    fig = aplot.plot_event(ev, daily_bars, daily_bars)  # mathtext would raise on these strings
    from matplotlib.text import Text

    fig.canvas.draw()
    for t in fig.findobj(Text):
        s = t.get_text()
        assert "\x1b" not in s and "\x00" not in s and "\u202e" not in s and "\n\r" not in s
        if "$" in s:
            assert not t.get_usetex() and not t._parse_math, s


def test_clean_text_and_truncate():
    assert aplot.clean_text("a\x00b\x1b[1m\u200bc\nd\te") == "ab[1mc d e"
    assert aplot.truncate("科大讯飞闪崩跳水！刚刚，原因找到了，后面还有很多很多字", 10).endswith("…")
    assert aplot.text_width(aplot.truncate("科大讯飞闪崩跳水！刚刚，原因找到了，后面还有很多很多字", 10)) <= 10
    short = "AI giant iFlytek stock nosedives"
    assert aplot.truncate(short, 22) == short  # Latin is narrower: 32 chars ≈ 17.6 wide


@pytest.mark.parametrize("name, fmt", [("x.png", "png"), ("X.SVG", "svg"), ("report/x.pdf", "pdf"), ("x", "png")])
def test_figure_format_follows_the_suffix(name, fmt):
    assert aplot.figure_format(name) == fmt


@pytest.mark.parametrize("name", ["x.jpg", "x.jpeg", "x.gif", "x.png.bak"])
def test_other_suffixes_are_bad_input(name):
    from anomaly.errors import BadInput

    with pytest.raises(BadInput, match=r"use a \.png, \.svg or \.pdf file name"):
        aplot.figure_format(name)


def test_cli_plot_writes_the_format_asked_for_and_refuses_jpg(tmp_path, run_cli):
    svg = tmp_path / "p.svg"
    r = run_cli(["plot", "002230", "--date", "2023-05-24", "--source", "sample", "--out", svg])
    assert r.code == 0, r.err
    assert svg.read_bytes().lstrip().startswith(b"<?xml") and b"<svg" in svg.read_bytes()[:2000]
    jpg = tmp_path / "p.jpg"
    r = run_cli(["plot", "002230", "--date", "2023-05-24", "--source", "sample", "--out", jpg])
    assert r.code == 2 and "use a .png, .svg or .pdf" in r.err_lines[-1] and not jpg.exists()


def test_plots_of_synthetic_data_say_so():
    from anomaly.pipeline import synthetic_note

    assert synthetic_note("synthetic") == synthetic_note("synthetic:7") == "SYNTHETIC data, not market prices"
    assert synthetic_note("sample") is None and synthetic_note("akshare") is None
