# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Scanning a universe, and querying past events from the store
#
# Notebook 1 followed one stock on one day. Here we do what the nightly job does, over many stocks and
# many days, and then use the results the way an analyst does the next morning:
#
# 1. the universe — the bundled 292-stock panel of real daily bars (2022–2024);
# 2. one pass of every daily detector over all of 2024;
# 3. how many stocks are flagged per day — and why a handful of days dwarf the rest;
# 4. the market-wide days, from the cross-section table (February 2024, and 2024-09-24 … 10-08);
# 5. a backfill scan into a store (reports on disk, results in Parquet);
# 6. querying past events from the store: as event dicts, and with SQL (DuckDB);
# 7. pointing the same notebook at live data from akshare.
#
# It runs offline on the bundled sample in well under a minute. The one switch is `SOURCE` below:
# `"sample"` (default) never touches the network; `"akshare"` fetches live data into the store first.

# %%
SOURCE = "sample"      # "sample": bundled real data, offline  |  "akshare": live data (network), see section 7

# %%
import datetime as dt
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import anomaly as an

START, END = dt.date(2024, 1, 2), dt.date(2024, 12, 31)        # the detection pass of section 2
BACKFILLS = [(dt.date(2023, 5, 22), dt.date(2023, 5, 26)),      # the week of notebook 1's case
             (dt.date(2024, 9, 24), dt.date(2024, 9, 30))]      # the first days of the September 2024 rally
WATCHLIST = ["002230", "300750", "600519", "688981", "000001"]  # used instead of the panel for akshare

WORK = Path(tempfile.mkdtemp(prefix="anomaly-nb02-"))           # the store and reports live here
store = an.Store(WORK / "store")
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 100)
print("working folder:", WORK)

# %% [markdown]
# The scan is configured the way the nightly job is: a TOML file (every key is listed in
# `configs/default.toml`). We write a small one into the working folder. With the sample, the universe is
# the bundled panel; with akshare, a watch-list (the whole panel would mean ~300 polite downloads).

# %%
universe = ('name = "sample"' if SOURCE == "sample"
            else f'name = "watchlist"\nwatchlist = {json.dumps(WATCHLIST)}')
config_text = f"""\
store = {json.dumps(str(store.root))}

[source]
default = "{SOURCE}"

[universe]
{universe}

[scan]
out = {json.dumps(str(WORK / "reports"))}
plots = false
workers = 1          # in this process; more workers = a process pool (or engine = "dask")
"""
(WORK / "scan.toml").write_text(config_text, encoding="utf-8")
cfg = an.load_config(WORK / "scan.toml")
print(config_text)

# %% [markdown]
# Our figures need a font that can draw Chinese: we look one up and pass it to each text explicitly
# (`fontproperties=`), without changing matplotlib's global settings. Without one (install
# `fonts-noto-cjk`) labels fall back to English.

# %%
_font = an.find_cjk_font()
CJK = _font.family if _font else None
fp = an.font_properties        # a FontProperties per text: the CJK family first
zh = an.cjk_label              # the Chinese label when Chinese can be drawn, else the English one
cjk_axes = an.apply_cjk_font   # every text of an axes in the CJK font

print("CJK font:", CJK or "none found (English labels)")

# %% [markdown]
# ## 1. The universe
#
# `an.pick_symbols(symbols, universe, config, source)` gives the symbols a command works on — explicit
# ones, or a named universe from the config. The `sample` universe is the bundled panel: 292 large and
# mid-cap A-shares with their names and (Eastmoney) industries, daily bars 2022–2024. It is not the whole
# market (about 5,300 stocks) and carries survivorship bias (stocks delisted before 2025 are absent).

# %%
symbols = an.pick_symbols(None, cfg.universe.name, cfg, SOURCE)
meta = pd.DataFrame([{"symbol": s.id, "name": s.name, "exchange": s.exchange, "board": s.board,
                      "industry": s.industry} for s in symbols])
print(len(symbols), "symbols;", meta["industry"].nunique(), "industries")
print(meta.groupby(["exchange", "board"]).size().rename("stocks").to_string())
meta.head(8)

# %% [markdown]
# ## 2. Detect over a year
#
# `an.detect_range(symbols, start, end, freq, source, config)` loads the bars (plus the look-back the
# detectors need — about 260 trading days for the market model), the benchmark indices, runs every
# configured daily detector on the whole panel at once, and keeps the records that end inside
# [start, end]. It returns a result with `.anomalies` (the records), `.bars`, `.index_bars`, `.meta`,
# `.benchmark` (stock → index), `.cross_section` (co-movement per day and industry) and `.failures`.

# %%
result = an.detect_range(symbols, START, END, "daily", SOURCE, cfg, store=store)
anomalies = result.anomalies
anomalies["date"] = anomalies["end"].dt.tz_convert("Asia/Shanghai").dt.date
print(f"{len(anomalies)} anomaly records on {anomalies['date'].nunique()} days, "
      f"{anomalies['symbol'].nunique()} symbols; failures: {result.failures or 'none'}")
anomalies["kind"].value_counts().rename("records").to_frame()

# %% [markdown]
# ## 3. Anomalies per day
#
# Count, for every trading day of 2024, how many *stocks* had at least one record (a stock hitting the
# limit typically triggers several detectors at once, so records overcount). On a typical day about ten
# of the 292 stocks are flagged; on a few days, most of them are. Those are not 200 separate stories.

# %%
trading = an.trading_days(START, END).date
per_day = (anomalies.groupby("date")["symbol"].nunique()
           .reindex(trading, fill_value=0).rename("stocks flagged"))
print(per_day.describe().round(1).to_string())
per_day.sort_values(ascending=False).head(10).to_frame()

# %% [markdown]
# The cross-section table (section 4) tells which days the market moved as a whole; we colour those red.

# %%
cs = result.cross_section
market = cs[cs["scope"] == "market"].copy()
market["date"] = pd.to_datetime(market["date"]).dt.date
wide = market[(market["wide_close"] != "") | (market["wide_extreme"] != "")].set_index("date")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [2.6, 1]})
colors = ["#d62728" if d in wide.index else "#4c72b0" for d in per_day.index]
ax1.bar(pd.to_datetime(per_day.index), per_day.to_numpy(), width=1.0, color=colors)
for d, v in per_day.sort_values(ascending=False).head(4).items():
    ax1.annotate(f"{d:%m-%d}", (pd.Timestamp(d), v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
ax1.set_title(zh(f"每日出现异动的股票数（{len(symbols)} 只样本股，2024 年；红色 = 全市场共振日）",
                 f"Stocks flagged per day ({len(symbols)}-stock panel, 2024; red = market-wide day)"))
ax1.set_ylabel(zh("股票数", "stocks"))
ax1.set_xlabel(zh("交易日", "trading day"))
ax2.hist(per_day.to_numpy(), bins=range(0, int(per_day.max()) + 10, 5), color="#4c72b0")
ax2.set_yscale("log")
ax2.set_title(zh("分布：每日异动股票数", "Distribution of stocks flagged per day"))
ax2.set_xlabel(zh("当日异动股票数", "stocks flagged that day"))
ax2.set_ylabel(zh("交易日数（对数）", "trading days (log)"))
for ax in (ax1, ax2):
    cjk_axes(ax)
fig.tight_layout()
fig.savefig(WORK / "anomalies_per_day.png", dpi=110)
plt.show()

# %% [markdown]
# ## 4. The market-wide days
#
# `result.cross_section` counts, per day (`scope = "market"`) and per industry-day (`scope = "sector"`),
# the stocks that moved at least 5 % — on the close (`close`) or intraday (`extreme`: high or low against
# the previous close) — and their share of the universe. A day is market-wide in a direction
# (`wide_close`, `wide_extreme` = `up` / `down`) when at least 30 % of the universe moved that way
# (`link.market_wide_share` in the config). In 2024 two episodes stand out: the sell-off of late January
# and early February (small caps, quant funds, 雪球 products) and its rebound from 02-06; and the
# stimulus rally from 2024-09-24 (PBoC rate cuts, then the Politburo meeting), peaking on 09-30 and
# 10-08, the first day after the National Day holiday, followed by the 10-09 reversal.

# %%
pct = lambda s: (100 * s).round(1)   # noqa: E731
wide_days = pd.DataFrame({
    "stocks": wide["n"],
    "median return %": pct(wide["median_return"]),
    "closed ≥ +5 % (share %)": pct(wide["share_close_up"]),
    "closed ≤ −5 % (share %)": pct(wide["share_close_down"]),
    "touched ±5 % intraday (up / down %)": pct(wide["share_extreme_up"]).astype(str) + " / "
                                           + pct(wide["share_extreme_down"]).astype(str),
    "wide on close": wide["wide_close"], "wide intraday": wide["wide_extreme"],
    "index": wide["index"], "index return %": pct(wide["index_return"]),
})
wide_days

# %% [markdown]
# The same table at industry level shows which sectors moved together on days when the market as a
# whole did not (the busiest industry-days of the year):

# %%
sector = cs[(cs["scope"] == "sector") & ((cs["wide_close"] != "") | (cs["wide_extreme"] != ""))].copy()
sector["date"] = pd.to_datetime(sector["date"]).dt.date
sector = sector[~sector["date"].isin(wide.index)]
sector.assign(median_return=pct(sector["median_return"]))[
    ["date", "industry", "n", "median_return", "wide_close", "wide_extreme"]].sort_values(
    ["n", "date"], ascending=[False, True]).head(10)

# %% [markdown]
# Each anomaly record of such a day carries the cross-section's mark in `details["cross_section"]`:
# the scope (`market` or `sector`), the share of the universe that moved the same way, and the benchmark
# index's return — so a report can say "the market moved" instead of blaming each stock's own news.
# Here are a few records of 2024-09-30:

# %%
day = dt.date(2024, 9, 30)
on_day = anomalies[anomalies["date"] == day]
marks = pd.DataFrame([{"symbol": r.symbol, "name": result.meta.loc[r.symbol, "name"], "kind": r.kind,
                       "magnitude %": round(100 * r.magnitude, 2), **(r.details.get("cross_section") or {})}
                      for r in on_day.itertuples()])
print(f"{day}: {len(on_day)} records, {marks['scope'].notna().sum() if 'scope' in marks else 0} "
      "of them marked as moving with the market or their sector")
marks.head(6)

# %% [markdown]
# ## 5. A backfill scan into the store
#
# `an.run_scan(config, start=…, end=…, out=…, store=…)` is the nightly job over a range of dates
# (`anomaly scan --start … --end …`): detect over the universe, link each day's anomalies to the news
# around them, write a report per date (`report.html`, `report.md`, `events.json`, `anomalies.csv`) and
# store each date's anomalies and events in the store. Reruns replace a date's results, never append.
# `plots=False` skips the event PNGs to keep this quick. We backfill two windows: the week of
# notebook 1's case, and the first five days of the September 2024 rally (09-24 … 09-30; linking the
# hundreds of events of 10-08 and 10-09 as well would take a while longer).

# %%
for first, last in BACKFILLS:
    scan = an.run_scan(cfg, start=first, end=last, out=WORK / "reports", store=store, plots=False,
                       echo=lambda line: None)
    print("\n".join(scan.summary_lines()))
print("report folders:", ", ".join(sorted(p.name for p in (WORK / "reports").iterdir() if not p.name.startswith("."))))

# %% [markdown]
# ## 6. Querying past events
#
# `store.events(start, end)` returns the stored events as the same dicts `an.link_events` produces
# (verdict, linked news, event study, explanation). The iFlytek case of notebook 1 is there:

# %%
past = store.events(dt.date(2023, 5, 22), dt.date(2023, 5, 26))
ev_table = pd.DataFrame([{"date": e["date"], "symbol": e["symbol"], "name": e["name"], "verdict": e["verdict"],
                          "kind": (e.get("anomaly") or {}).get("kind"), "severity": e["severity"],
                          "linked news": len(e["news"])} for e in past])
print(f"{len(past)} stored events in 2023-05-22 … 05-26")
ev_table.sort_values(["date", "severity"], ascending=[True, False]).head(12)

# %% [markdown]
# For questions across many dates, `store.query(sql, params)` runs DuckDB SQL over views of the store's
# Parquet files: `events` (id, symbol, date, verdict, severity, explanation, json), `anomalies` (the
# canonical records; `details` as JSON text), and — once something has been fetched into the store —
# `bars_daily` and `news`. Values always go in as `?` parameters, never into the SQL string.
#
# How the verdicts are spread over the scanned dates:

# %%
store.query("""
    select date, verdict, count(*) as events, round(max(severity), 2) as max_severity
    from events group by date, verdict order by date, verdict
""")

# %% [markdown]
# Read the verdicts next to section 4. `news_linked` needs news: the bundled sample holds the news timeline
# of 2023-05-24 for 002230 only, so that is the one event the news explains, and for every other stock
# "no public news" is literally true. `market_wide` / `sector_wide` is the verdict for an event whose
# move the correlator attributes to the whole market or the stock's industry moving the same way that day;
# whatever the verdict, the cross-section table of section 4 is where the market's own story is told —
# on 2024-09-30, 98.6 % of the panel closed up 5 % or more.
#
# Every event that the news explains, strongest first:

# %%
linked_events = store.query(
    "select date, symbol, severity, explanation from events where verdict = ? order by severity desc",
    ["news_linked"])
linked_events

# %% [markdown]
# The anomaly records are there too. The biggest intraday crashes (`range_crash`) in the backfilled
# dates, with how much each stock recovered by the close (read from the JSON `details`):

# %%
crashes = store.query(
    "select symbol, substr(\"end\", 1, 10) as date, magnitude, score, details from anomalies "
    "where kind = ? order by magnitude limit 8", ["range_crash"])
crashes["low vs prev close %"] = (100 * crashes.pop("magnitude")).round(2)
crashes["close %"] = crashes["details"].map(lambda s: round(100 * json.loads(s)["close_return"], 2))
crashes["robust z"] = crashes.pop("score").round(2)
crashes.drop(columns="details")

# %% [markdown]
# And from the store back to a picture: the most severe stored event of the rally's peak day, drawn
# with `an.plot_event` from its stored dict (bars reloaded from the source). Compare the size of the move
# with its abnormal return against the market model (the CAR [0,0] row of the key figures, and the
# grey benchmark line in the lower panel): on a day when the whole market jumped, a very large raw move
# can be quite ordinary once the market is taken out.

# %%
peak = max(store.events(dt.date(2024, 9, 30), dt.date(2024, 9, 30)), key=lambda e: e["severity"])
print(peak["explanation"])
peak_sym = an.resolve(peak["symbol"])
peak_bars = an.load_bars(SOURCE, [peak_sym], dt.date(2024, 6, 1), dt.date(2024, 12, 31), store=store)
peak_index = an.load_bars(SOURCE, [an.resolve(result.benchmark.get(peak_sym.id, "399001.SZ"))],
                          dt.date(2024, 6, 1), dt.date(2024, 12, 31), store=store)
fig = an.plot_event(peak, peak_bars, index_bars=peak_index, out=WORK / f"{peak_sym.id}_{peak['date']}.png")
fig

# %% [markdown]
# ## 7. Pointing this notebook at akshare
#
# Everything above takes its data from `SOURCE`. To run it on live data, set `SOURCE = "akshare"` in the
# first code cell and run all cells again:
#
# * the config written in the first cells switches to `[source] default = "akshare"` and to the
#   `WATCHLIST` (edit it; the whole 292-stock panel is ~300 downloads per range, and
#   `[universe] name = "all"` is the whole market — about an hour of polite fetching);
# * `an.detect_range` and `an.run_scan` fetch what the store does not hold yet (Eastmoney daily bars with
#   Sina/Tencent fallbacks, the benchmark indices, and — in the scan — news: cninfo announcements,
#   互动易/e互动 replies, company news, 财联社/Eastmoney flash news), with timeouts, retries with backoff
#   and a per-site rate limit, then read the store; a second run asks upstream only for missing days;
# * news-linked verdicts then come from the real news of those days instead of the bundled 2023-05-24
#   timeline; the sections that name sample-specific dates still run, with whatever your universe did.
#
# From a shell, the same store can be filled ahead of time and then used offline:
#
# ```bash
# anomaly fetch 002230 399001.SZ --start 2023-01-01 --end 2024-12-31 --source akshare --news --store ~/anomaly/store
# anomaly detect 002230 --start 2024-09-01 --end 2024-10-31 --source store --store ~/anomaly/store
# anomaly scan --config configs/nightly.example.toml        # the nightly job on a watch-list
# ```
#
# (`--source baostock` serves historical 5-minute bars for the intraday detectors.) The cell below is the
# Python equivalent of `anomaly fetch`; it is guarded, so with `SOURCE = "sample"` nothing touches the
# network.

# %%
if SOURCE == "sample":
    print("SOURCE = 'sample': offline; nothing fetched. Set SOURCE = 'akshare' in the first cell to fetch live data.")
else:
    src = an.get_source(SOURCE, **cfg.source.options_for(SOURCE))
    fetched = an.fetch_to_store(store, src, symbols, START, END, news=True)
    print(pd.DataFrame([{"symbol": r.symbol, "rows": r.rows, "news added": r.news_added, "error": r.error}
                        for r in fetched]).to_string(index=False))
    print(store.query("select symbol, count(*) as bars, min(ts) as first, max(ts) as last "
                      "from bars_daily group by symbol order by symbol"))

# %% [markdown]
# ## Summary
#
# * `an.detect_range` runs every detector over a universe in one pass; `.cross_section` tells market-wide
#   and sector-wide days apart from stock-specific moves.
# * Most days flag a handful of the 292 stocks; the market-wide days (February 2024, 2024-09-24 … 10-09)
#   flag most of them at once — those are one market story, not hundreds of stock stories.
# * `an.run_scan` writes the reports and stores each date's results; `store.events(...)` brings back the
#   event dicts and `store.query("… where verdict = ?", [...])` answers questions across dates in SQL.
# * Set `SOURCE = "akshare"` to run the same notebook on live data; the store caches what was fetched.
