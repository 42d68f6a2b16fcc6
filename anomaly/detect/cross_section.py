"""Cross-section: when many symbols move together on one day, say so instead of blaming each stock.

``cross_section_table(bars, meta)`` counts, per day (and per industry with at least
``min_industry`` members that day), the stocks whose move passed ``threshold`` in each direction,
on two measures:

    close:    close / prev_close − 1  ≥ +threshold  (up)   or ≤ −threshold (down)
    extreme:  high / prev_close − 1 ≥ +threshold   (up)   or low / prev_close − 1 ≤ −threshold (down)

and the share of the universe (stocks with a bar that day) they make up. A day is
``market_wide`` in a direction when that share ≥ ``market_share`` (of a universe of at least
``min_universe`` stocks), or — for small universes such as a one-stock watch-list — when the
benchmark index itself moved at least ``index_move`` that way. An industry-day is ``sector_wide``
when its share ≥ ``sector_share``.

``mark_cross_section(anomalies, bars, meta, ...)`` adds to every anomaly on such a day, in the
same direction, ``details["cross_section"] = {"scope": "market"|"sector", "basis": "universe"|
"index", "measure": "close"|"extreme", "direction", "share", "n", "n_moved", "threshold",
"industry", "industry_share", "industry_n", "index", "index_return"}`` (sector only when the market
test fails) and returns ``(marked_anomalies, table)``. The direction of a record is the sign of its
magnitude (of the close return for direction-less kinds: volume, amplitude, turnover); range kinds
are compared on the ``extreme`` measure, everything else on ``close``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..marketmodel import assign_benchmarks, index_returns, symbol_info
from ..schema import TZ, anomalies_frame

DIRECTIONLESS = {"volume_surge", "amplitude_lhb", "turnover_lhb"}
EXTREME_KINDS = {"range_crash", "range_spike"}


def _moves(bars: pd.DataFrame, threshold: float) -> pd.DataFrame:
    b = bars[["symbol", "ts", "high", "low", "close", "prev_close"]].copy()
    pc = b["prev_close"].where(b["prev_close"] > 0)
    r = b["close"] / pc - 1.0
    hi = b["high"] / pc - 1.0
    lo = b["low"] / pc - 1.0
    out = pd.DataFrame({"symbol": b["symbol"].to_numpy(),
                        "date": pd.DatetimeIndex(b["ts"]).tz_convert(TZ).tz_localize(None).normalize(),
                        "ret": r.to_numpy(), "valid": r.notna().to_numpy(),
                        "close_up": (r >= threshold).to_numpy(), "close_down": (r <= -threshold).to_numpy(),
                        "extreme_up": (hi >= threshold).to_numpy(), "extreme_down": (lo <= -threshold).to_numpy()})
    # a move beyond any plausible limit is not a market move (IPO day, raw prev_close on ex-rights)
    wild = (r.abs() > 0.35).to_numpy() & ~b["symbol"].str.contains(r"\.").to_numpy()
    out.loc[wild, ["valid", "close_up", "close_down", "extreme_up", "extreme_down"]] = False
    return out[out["valid"]]


def _agg(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = df.groupby(keys, sort=True)
    t = g.agg(n=("valid", "size"), median_return=("ret", "median"),
              n_close_up=("close_up", "sum"), n_close_down=("close_down", "sum"),
              n_extreme_up=("extreme_up", "sum"), n_extreme_down=("extreme_down", "sum")).reset_index()
    for m in ("close", "extreme"):
        for d in ("up", "down"):
            t[f"share_{m}_{d}"] = t[f"n_{m}_{d}"] / t["n"]
    return t


def cross_section_table(bars: pd.DataFrame, meta: pd.DataFrame | None = None, *, threshold: float = 0.05,
                        market_share: float = 0.30, sector_share: float = 0.50, min_industry: int = 5,
                        min_universe: int = 30, index_bars: pd.DataFrame | None = None,
                        index_move: float = 0.03) -> pd.DataFrame:
    """Per-day (``scope="market"``) and per industry-day (``scope="sector"``) move counts.

    Columns: date, scope, industry, n, median_return, n_/share_{close,extreme}_{up,down},
    wide_close (``"up"``/``"down"``/``""``), wide_extreme, basis, index, index_return.
    """
    stocks = bars[~bars["symbol"].astype(str).str.contains(r"\.")]
    mv = _moves(stocks, threshold)
    if mv.empty:
        return pd.DataFrame(columns=["date", "scope", "industry", "n", "wide_close", "wide_extreme"])
    market = _agg(mv, ["date"])
    market["scope"], market["industry"] = "market", ""
    market["basis"] = np.where(market["n"] >= min_universe, "universe", "index")
    # index fallback for small universes: the most common benchmark of the universe
    market["index"], market["index_return"] = None, np.nan
    if index_bars is not None and len(index_bars):
        info = symbol_info(sorted(mv["symbol"].unique()), meta)
        ir = index_returns(index_bars, pd.DatetimeIndex(sorted(market["date"])).tz_localize(TZ)
                           + pd.Timedelta(hours=15))
        bench = assign_benchmarks(info, [c for c in ir.columns if ir[c].notna().any()]).dropna()
        if len(bench):
            main = bench.value_counts().index[0]
            market["index"] = main
            market["index_return"] = ir[main].to_numpy()
    for m in ("close", "extreme"):
        up = np.where(market["basis"] == "universe", market[f"share_{m}_up"] >= market_share,
                      market["index_return"] >= index_move)
        dn = np.where(market["basis"] == "universe", market[f"share_{m}_down"] >= market_share,
                      market["index_return"] <= -index_move)
        market[f"wide_{m}"] = np.where(up & ~dn, "up", np.where(dn & ~up, "down", np.where(up & dn, "both", "")))
    info = symbol_info(sorted(mv["symbol"].unique()), meta)
    mv["industry"] = mv["symbol"].map(info["industry"]).fillna("")
    sec = _agg(mv[mv["industry"] != ""], ["date", "industry"])
    sec = sec[sec["n"] >= min_industry].copy()
    sec["scope"], sec["basis"], sec["index"], sec["index_return"] = "sector", "universe", None, np.nan
    for m in ("close", "extreme"):
        up = sec[f"share_{m}_up"] >= sector_share
        dn = sec[f"share_{m}_down"] >= sector_share
        sec[f"wide_{m}"] = np.where(up & ~dn, "up", np.where(dn & ~up, "down", np.where(up & dn, "both", "")))
    cols = ["date", "scope", "industry", "n", "median_return"] + \
           [f"{a}_{m}_{d}" for a in ("n", "share") for m in ("close", "extreme") for d in ("up", "down")] + \
           ["wide_close", "wide_extreme", "basis", "index", "index_return"]
    out = pd.concat([market[cols], sec[cols]], ignore_index=True)
    return out.sort_values(["date", "scope", "industry"], kind="stable").reset_index(drop=True)


def mark_cross_section(anomalies: pd.DataFrame, bars: pd.DataFrame, meta: pd.DataFrame | None = None, *,
                       threshold: float = 0.05, market_share: float = 0.30, sector_share: float = 0.50,
                       min_industry: int = 5, min_universe: int = 30,
                       index_bars: pd.DataFrame | None = None, index_move: float = 0.03
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``details["cross_section"]`` to anomalies on market-/sector-wide days (see module doc).

    Returns ``(marked anomalies, per-day table)``; the input frame is not modified.
    """
    table = cross_section_table(bars, meta, threshold=threshold, market_share=market_share,
                                sector_share=sector_share, min_industry=min_industry,
                                min_universe=min_universe, index_bars=index_bars, index_move=index_move)
    out = anomalies_frame(anomalies)
    if out.empty or table.empty:
        return out, table
    out["details"] = out["details"].map(lambda d: dict(d))
    info = symbol_info(sorted(out["symbol"].unique()), meta)
    rec = pd.DataFrame({"symbol": out["symbol"].to_numpy(), "kind": out["kind"].to_numpy(),
                        "date": pd.DatetimeIndex(out["start"]).tz_convert(TZ).tz_localize(None).normalize(),
                        "sign": out["magnitude"].to_numpy(dtype=float)})
    # direction-less kinds (volume, amplitude, turnover) take the day's close return for a direction
    stocks = bars[bars["symbol"].isin(set(rec["symbol"]))]
    cr = pd.DataFrame({"symbol": stocks["symbol"].to_numpy(),
                       "date": pd.DatetimeIndex(stocks["ts"]).tz_convert(TZ).tz_localize(None).normalize(),
                       "close_ret": (stocks["close"] / stocks["prev_close"].where(stocks["prev_close"] > 0)
                                     - 1.0).to_numpy()})
    rec = rec.merge(cr.drop_duplicates(["symbol", "date"]), on=["symbol", "date"], how="left")
    use_close = rec["kind"].isin(DIRECTIONLESS) | ~np.isfinite(rec["sign"])
    rec["sign"] = np.where(use_close, rec["close_ret"], rec["sign"])
    rec["direction"] = np.where(rec["sign"] > 0, "up", np.where(rec["sign"] < 0, "down", ""))
    rec["measure"] = np.where(rec["kind"].isin(EXTREME_KINDS), "extreme", "close")
    rec["industry"] = rec["symbol"].map(info["industry"]).fillna("").astype(str)
    mk = table[table["scope"] == "market"].drop(columns=["scope", "industry"])
    sc = table[table["scope"] == "sector"].drop(columns=["scope", "basis", "index", "index_return"])
    rec = rec.merge(mk.add_prefix("m_").rename(columns={"m_date": "date"}), on="date", how="left")
    rec = rec.merge(sc.add_prefix("s_").rename(columns={"s_date": "date", "s_industry": "industry"}),
                    on=["date", "industry"], how="left")
    assert len(rec) == len(out)  # left merges on unique keys keep one row per record, in order
    cols = {c: rec[c].to_numpy() for c in rec.columns}
    for i in range(len(rec)):
        direction, measure = cols["direction"][i], cols["measure"][i]
        if not direction or pd.isna(cols["m_n"][i]):
            continue
        wide_m = cols[f"m_wide_{measure}"][i]
        ind = cols["industry"][i]
        base = {"measure": measure, "direction": direction,
                "share": _r(cols[f"m_share_{measure}_{direction}"][i]), "n": int(cols["m_n"][i]),
                "n_moved": int(cols[f"m_n_{measure}_{direction}"][i]), "threshold": threshold,
                "index": cols["m_index"][i], "index_return": _r(cols["m_index_return"][i]), "industry": ind}
        sec = None
        if ind and not pd.isna(cols["s_n"][i]):
            sec = {"industry_share": _r(cols[f"s_share_{measure}_{direction}"][i]),
                   "industry_n": int(cols["s_n"][i]),
                   "industry_n_moved": int(cols[f"s_n_{measure}_{direction}"][i])}
        entry = None
        if wide_m in (direction, "both"):
            entry = {"scope": "market", "basis": cols["m_basis"][i], **base, **(sec or {})}
        elif sec is not None and cols[f"s_wide_{measure}"][i] in (direction, "both"):
            entry = {"scope": "sector", "basis": "universe", **base, **sec}
        if entry is not None:
            out.at[out.index[i], "details"] = {**out.at[out.index[i], "details"], "cross_section": entry}
    return out, table


def _r(v, nd: int = 4):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, nd) if np.isfinite(f) else None


def market_wide_days(table: pd.DataFrame, measure: str = "close") -> pd.DataFrame:
    """The market-scope rows of ``table`` flagged wide on ``measure``."""
    m = table[(table["scope"] == "market") & (table[f"wide_{measure}"] != "")]
    return m.reset_index(drop=True)
