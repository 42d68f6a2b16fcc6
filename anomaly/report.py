"""The morning report: Markdown, self-contained HTML, JSON and CSV from a night's events.

``write_report(out_dir, date_label, events, anomalies, failures, meta)`` writes

* ``report.md``     — summary, ranked events (figures, linked news, plot), failures;
* ``report.html``   — the same, self-contained: inline CSS, plots embedded as ``data:`` URIs, no
  external resources, a Content-Security-Policy that forbids scripts;
* ``events.json``   — the events in rank order (``events_to_json``);
* ``anomalies.csv`` — every anomaly record (``anomalies_to_csv``);
* ``summary.json``  — date, counts, failures and the rank order, for machines;
* ``plots/<symbol>_<YYYYMMDD>.png`` — when a ``plot`` callback is given (see ``plot_relpath``).

Every output is a pure function of its inputs: no wall-clock time, sorted keys, stable ordering,
so a rerun on the same data is byte-identical (pass a time in ``meta`` to show one).

**Ranking** (``rank_events``): events that most need a human come first.

1. tier 0 — *rumor-linked*: a precursor/concurrent news item is social-media chatter or carries a
   rumor cue (传闻, 网传, 小作文, 据悉, 知情人士 …) in its title or link reasons;
2. tier 1 — stock-specific: other ``news_linked`` and ``no_public_news`` events (an unexplained
   large move needs a look as much as an explained one);
3. tier 2 — ``sector_wide``; tier 3 — ``market_wide`` (the move is the market's, not the stock's).

Within a tier: higher ``severity`` first (the linker's score; when absent,
``|magnitude| × (1 + min(−log10 p, 10))``), then larger ``|magnitude|``, smaller ``p_value``, then
``id`` so ties are stable.

**Untrusted text** — titles, bodies, sources, URLs, symbols, names, explanations and failure
messages — is HTML-escaped (``html.escape``) in HTML and backslash-escaped in Markdown; links
are emitted only for ``http``/``https`` URLs (anything else, e.g. ``javascript:``, is shown as
plain text).
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd

from .output import finite_or_none, news_time, p_text, shanghai_ts
from .schema import ANOMALY_COLUMNS, anomalies_frame

RUMOR_CUES = ("传闻", "网传", "小作文", "据悉", "知情人士", "传言", "消息称", "市场传", "rumor", "rumour")
TIER_NAMES = {0: "rumor-linked", 1: "stock-specific", 2: "sector-wide", 3: "market-wide"}
ROLES = ("precursor", "concurrent", "response", "clarification")


# --- small utilities ------------------------------------------------------------------------------


_num = finite_or_none
_ts = shanghai_ts


def clean(text: Any, limit: int | None = None) -> str:
    """Untrusted text → one line without control/format characters (then escaped by the caller)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    out = []
    for c in str(text):
        cat = unicodedata.category(c)
        if c in "\t\n\r\v\f" or cat in ("Zs", "Zl", "Zp"):
            out.append(" ")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(c)
    s = " ".join("".join(out).split())
    if limit is not None and len(s) > limit:
        s = s[:limit].rstrip() + "…"
    return s


def safe_url(url: Any) -> str | None:
    """The URL when it is a plain ``http``/``https`` link with a host, else ``None``."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    if not u or any(unicodedata.category(c)[0] in ("C", "Z") and c != " " for c in u) or " " in u:
        return None
    try:
        parts = urlsplit(u)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return u


def h(text: Any) -> str:
    """HTML-escape untrusted text (quotes too, so it is safe inside attributes)."""
    return html.escape(clean(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|!~&$])")


def md(text: Any, limit: int | None = None) -> str:
    """Markdown-escape untrusted text for an *inline* position (table cell, after a label): the
    characters that can start emphasis, code, a link or image, raw HTML, an entity, math or a
    table cell get a backslash (valid CommonMark escapes). The report never puts untrusted text
    at the start of a line, so block syntax (``#``, ``-``, ``1.``) cannot trigger."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text, limit))


def _md_url(url: str) -> str:
    # Percent-encode what could end or break a Markdown link destination.
    return quote(url, safe=":/?#@!$&'*+,;=%~-._[]")


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as fh:  # normal umask permissions (mkstemp would force 0600)
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x * 100:+.{digits}f}%".replace("-", "−")


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if x is None else fmt.format(x).replace("-", "−")


_p = p_text


def _who(event: Mapping, esc) -> str:
    """"name code", or the code alone when the name is unknown (escaped with ``esc``)."""
    name, code = clean(event.get("name")), clean(event.get("symbol"))
    return f"{esc(name)} {esc(code)}" if name else esc(code)


def _onset(event: Mapping) -> str:
    """The onset as precisely as it is known: a minute, or only the day (daily bars)."""
    onset, precision = clean(event.get("onset")), clean(event.get("onset_precision"))
    if not onset:
        return "—"
    if precision == "day":
        return f"{onset[:10]} (daily bars: time of day unknown)"
    return f"{onset.replace('T', ' ')[:19]} ({precision or '—'})"


def _reversal(rec: Mapping) -> tuple[str, str]:
    """After day 0: how much of the day's abnormal return reversed (or how far it continued)."""
    car, frac, ar0 = _num(rec.get("car_after")), _num(rec.get("fraction")), _num(rec.get("ar0"))
    text = f"CAR {clean(rec.get('after'))} {_pct(car)}"
    if frac is None or ar0 is None or abs(ar0) < 0.005:   # a share of a tiny AR[0,0] means nothing
        return "after the event", text
    if frac >= 0:
        return "reversal", text + f" ({frac * 100:.0f}% of AR[0,0] reversed)"
    return "continuation", text + f" (the move continued: {abs(frac) * 100:.0f}% of AR[0,0] more)"


# --- JSON / CSV -------------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """Convert to plain JSON types: timestamps → ISO strings, numpy → Python, NaN/inf → ``None``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, np.datetime64):
        return None if np.isnat(obj) else pd.Timestamp(obj).isoformat()
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((jsonable(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), ensure_ascii=False, sort_keys=True, indent=2, allow_nan=False) + "\n"


def events_to_json(events: Iterable[Mapping], rank: bool = True) -> str:
    """Events as one JSON array (UTF-8 text, sorted keys, rank order unless ``rank=False``)."""
    evs = list(events or [])
    return _dumps(rank_events(evs) if rank else evs)


def anomalies_to_csv(df: pd.DataFrame | Iterable[Mapping] | None) -> str:
    """Anomaly records as CSV text: canonical columns, ISO timestamps, ``details`` as sorted JSON,
    rows ordered by (start, symbol, kind)."""
    if df is None:
        df = []
    frame = anomalies_frame(df if isinstance(df, pd.DataFrame) else list(df)).copy()
    for c in ("start", "end"):
        frame[c] = frame[c].map(lambda v: (_ts(v).isoformat() if _ts(v) is not None else ""))
    frame["details"] = frame["details"].map(
        lambda d: json.dumps(jsonable(d if isinstance(d, Mapping) else {}), ensure_ascii=False, sort_keys=True))
    for c in ("symbol", "kind", "reference"):
        frame[c] = frame[c].map(lambda v: clean(v) if v is not None and v == v else "")
    frame = frame.sort_values(["start", "symbol", "kind", "magnitude"], kind="stable")
    return frame[ANOMALY_COLUMNS].to_csv(index=False, lineterminator="\n")


# --- ranking ----------------------------------------------------------------------------------------


def is_rumor_linked(event: Mapping) -> bool:
    """A precursor or concurrent item is social-media chatter or carries a rumor cue."""
    for n in event.get("news") or []:
        if not isinstance(n, Mapping) or n.get("role") not in ("precursor", "concurrent"):
            continue
        if n.get("kind") == "social":
            return True
        text = " ".join([str(n.get("title") or "")] + [str(r) for r in (n.get("reasons") or [])]).lower()
        if any(c in text for c in RUMOR_CUES):
            return True
    return False


def tier(event: Mapping) -> int:
    """0 rumor-linked, 1 stock-specific, 2 sector-wide, 3 market-wide (see module docstring)."""
    v = event.get("verdict")
    if v == "market_wide":
        return 3
    if v == "sector_wide":
        return 2
    return 0 if is_rumor_linked(event) else 1


def priority(event: Mapping) -> float:
    """The within-tier score: ``severity`` when given, else |magnitude| × (1 + min(−log10 p, 10))."""
    s = _num(event.get("severity"))
    if s is not None:
        return s
    a = event.get("anomaly") or {}
    mag = abs(_num(a.get("magnitude")) or 0.0)
    p = _num(a.get("p_value"))
    sig = min(-math.log10(max(p, 1e-300)), 10.0) if p is not None and p > 0 else (10.0 if p == 0 else 0.0)
    return mag * 100 * (1 + sig)


def rank_events(events: Iterable[Mapping]) -> list[Mapping]:
    """Events ordered so that the ones most needing a human come first (documented above)."""
    def key(e: Mapping):
        a = e.get("anomaly") or {}
        mag = abs(_num(a.get("magnitude")) or 0.0)
        p = _num(a.get("p_value"))
        return (tier(e), -priority(e), -mag, 1.0 if p is None else p, str(e.get("id") or ""),
                str(e.get("symbol") or ""), str(e.get("date") or ""))
    return sorted((e for e in (events or []) if isinstance(e, Mapping)), key=key)


# --- per-event figures -----------------------------------------------------------------------------


def plot_relpath(event: Mapping) -> str:
    """Where an event's PNG lives inside the report directory (one folder per date): ``plots/<symbol>.png``."""
    sym = re.sub(r"[^0-9A-Za-z.]", "_", str(event.get("symbol") or "unknown"))[:20]
    return f"plots/{sym}.png"


def _close_return(event: Mapping) -> float | None:
    recs = [event.get("anomaly") or {}] + [a for a in (event.get("anomalies") or []) if isinstance(a, Mapping)]
    for r in recs:
        d = r.get("details") if isinstance(r.get("details"), Mapping) else {}
        for k in ("close_return", "close_ret", "ret_close", "return_close"):
            v = _num(d.get(k))
            if v is not None:
                return v
    for r in recs:
        if str(r.get("kind") or "") in ("close_return", "daily_return", "return") and r.get("reference") == "prev_close":
            return _num(r.get("magnitude"))
    return None


def _figures(event: Mapping) -> list[tuple[str, str]]:
    a = event.get("anomaly") or {}
    rows = [
        ("kind", clean(a.get("kind")) or "—"),
        ("magnitude", f"{_pct(_num(a.get('magnitude')))} vs {clean(a.get('reference')) or '—'}"),
        ("score", _f(_num(a.get("score")))),
        ("p-value", _p(_num(a.get("p_value")))),
        ("close return", _pct(_close_return(event))),
        ("recovery", _recovery_text(_num(event.get("recovery")))),
        ("onset", _onset(event)),
        ("severity", _f(_num(event.get("severity")))),
    ]
    es = event.get("event_study") or {}
    if isinstance(es, Mapping) and es:
        est = es.get("estimation") or {}
        bench = clean(es.get("benchmark")) or "—"
        if isinstance(est, Mapping) and est:
            rows.append(("market model", f"{bench}: α {_f(_num(est.get('alpha')), '{:.5f}')}, "
                                         f"β {_f(_num(est.get('beta')), '{:.3f}')}, σ {_f(_num(est.get('sigma')), '{:.4f}')}, "
                                         f"n {clean(est.get('n')) or '—'} ({clean(est.get('start'))} … {clean(est.get('end'))})"))
        else:
            rows.append(("benchmark", bench))
        for w in es.get("windows") or []:
            if isinstance(w, Mapping):
                label = "AR" if str(w.get("window")).replace(" ", "") == "[0,0]" else "CAR"
                incomplete = " (incomplete window)" if w.get("complete") is False else ""
                rows.append((f"{label} {clean(w.get('window'))}",
                             f"{_pct(_num(w.get('car')))} (t {_f(_num(w.get('t')))}, p {_p(_num(w.get('p')))})"
                             + incomplete))
        rec = es.get("recovery")
        if isinstance(rec, Mapping) and _num(rec.get("car_after")) is not None:
            rows.append(_reversal(rec))
    cs = event.get("cross_section")
    if isinstance(cs, Mapping):
        for scope in sorted(cs):
            c = cs[scope]
            if not isinstance(c, Mapping):
                continue
            share, n = _num(c.get("share")), c.get("n")
            what = "moved together" if c.get("moved_together") else "did not move together"
            extra = f" (share {share * 100:.0f}%" + (f" of {clean(n)}" if n is not None else "") + ")" if share is not None else ""
            ind = f" {clean(c.get('industry'))}" if scope == "sector" and c.get("industry") else ""
            rows.append((f"cross-section {clean(scope)}{ind}", what + extra))
    notes = [clean(x, 200) for x in (event.get("notes") or []) if x]
    if notes:
        rows.append(("notes", "; ".join(notes)))
    return rows


def _recovery_text(r: float | None) -> str:
    """``recovery`` is the share of the day's move retraced by the close (0.55 → 55 %)."""
    return "—" if r is None else f"{r * 100:.0f}% of the move retraced by the close"


def _numbered_news(event: Mapping) -> list[tuple[int, Mapping]]:
    from .plotnews import news_order  # same numbering as the plot's markers

    return list(enumerate(news_order(event.get("news")), 1))


def _failures(failures) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not failures:
        return out
    if isinstance(failures, Mapping):
        items = list(failures.items())
    else:
        items = []
        for f in failures:
            if isinstance(f, Mapping):
                items.append((f.get("symbol", "?"), f.get("error") or f.get("reason") or f.get("message") or ""))
            elif isinstance(f, (tuple, list)) and len(f) >= 2:
                items.append((f[0], f[1]))
            elif isinstance(f, str) and re.match(r"^[0-9A-Za-z.]{1,20}: ", f):  # "002230: error"
                sym, _, why = f.partition(": ")
                items.append((sym, why))
            else:
                items.append(("?", f))
    for sym, why in items:
        out.append((clean(sym, 40) or "?", clean(why, 500) or "unknown error"))
    return sorted(out)


def _count_anomalies(anomalies) -> int:
    if anomalies is None:
        return 0
    return len(anomalies)


def _summary(date_label: str, events: Sequence[Mapping], anomalies, failures: list, meta: Mapping,
             plot_errors: list | None = None) -> dict:
    verdicts: dict[str, int] = {}
    for e in events:
        v = str(e.get("verdict") or "unknown")
        verdicts[v] = verdicts.get(v, 0) + 1
    uni = meta.get("universe_size", meta.get("n_symbols"))
    if uni is None and isinstance(meta.get("universe"), (list, tuple)):
        uni = len(meta["universe"])
    return {
        "date": str(date_label),
        "universe_size": uni,
        "anomalies": _count_anomalies(anomalies),
        "events": len(events),
        "verdicts": dict(sorted(verdicts.items())),
        "market_wide": verdicts.get("market_wide", 0),
        "sector_wide": verdicts.get("sector_wide", 0),
        "rumor_linked": sum(1 for e in events if tier(e) == 0),
        "failures": [{"symbol": s, "error": w} for s, w in failures],
        "plot_errors": [{"symbol": s, "error": w} for s, w in (plot_errors or [])],
    }


# --- Markdown ---------------------------------------------------------------------------------------


def _md_link(text: str, url: Any) -> str:
    u = safe_url(url)
    return f"[{md(text)}]({_md_url(u)})" if u else md(text)


def render_markdown(date_label: str, events: Sequence[Mapping], summary: Mapping, meta: Mapping,
                    plots: Mapping[str, str | None]) -> str:
    """report.md text; ``events`` already ranked; ``plots`` maps event key → relative PNG path."""
    L: list[str] = []
    L.append(f"# A-share anomaly report · {md(date_label)}")
    L.append("")
    uni = summary.get("universe_size")
    L.append(f"- **date**: {md(date_label)}")
    L.append(f"- **universe**: {md(uni) if uni is not None else '—'} symbols")
    L.append(f"- **anomalies**: {summary['anomalies']}  ·  **events**: {summary['events']}"
             f"  ·  **rumor-linked**: {summary['rumor_linked']}")
    vv = ", ".join(f"{md(k)} {v}" for k, v in summary["verdicts"].items()) or "—"
    L.append(f"- **verdicts**: {vv}")
    L.append(f"- **market-wide flags**: market\\_wide {summary['market_wide']}, sector\\_wide {summary['sector_wide']}")
    L.append(f"- **failed symbols**: {len(summary['failures'])}")
    for k in sorted(meta):
        if k in _META_SHOWN or (k == "universe" and isinstance(meta[k], (list, tuple))):
            continue
        L.append(f"- {md(k)}: {md(_meta_value(meta[k]), 300)}")
    L.append("")
    if events:
        L.append("## Events (most in need of a look first)")
        L.append("")
        for i, e in enumerate(events, 1):
            L.append(f"{i}. {_who(e, md)} · {md(e.get('date'))} · "
                     f"{md(e.get('verdict'))} ({TIER_NAMES[tier(e)]})")
        L.append("")
    else:
        L.append("No events.")
        L.append("")
    for i, e in enumerate(events, 1):
        L.append(f"## {i}. {_who(e, md)} · {md(e.get('date'))} · {md(e.get('verdict'))}")
        L.append("")
        if e.get("explanation"):
            L.append(f"**Explanation:** {md(e.get('explanation'), 400)}")
            L.append("")
        L.append("| figure | value |")
        L.append("|---|---|")
        for k, v in _figures(e):
            L.append(f"| {md(k)} | {md(v)} |")
        L.append("")
        news = _numbered_news(e)
        if news:
            L.append("| # | time | role | kind | source | title | score | why |")
            L.append("|---|---|---|---|---|---|---|---|")
            for n_, n in news:
                reasons = "; ".join(clean(r, 80) for r in (n.get("reasons") or [])[:4])
                L.append(f"| {n_} | {md(news_time(n))} | {md(n.get('role'))} | {md(n.get('kind'))} | "
                         f"{md(n.get('source'), 60)} | {_md_link(clean(n.get('title'), 200), n.get('url'))} | "
                         f"{md(_f(_num(n.get('score'))))} | {md(reasons)} |")
            L.append("")
        else:
            L.append("No public news linked.")
            L.append("")
        others = [a for a in (e.get("anomalies") or []) if isinstance(a, Mapping)]
        if others:
            L.append("All findings: " + "; ".join(
                f"{md(a.get('kind'))} {md(_pct(_num(a.get('magnitude'))))} vs {md(a.get('reference'))}"
                f" (p {md(_p(_num(a.get('p_value'))))})" for a in others))
            L.append("")
        rel = plots.get(_key(e))
        if rel:
            L.append(f"![event plot {md(e.get('symbol'))}]({_md_url(rel)})")
            L.append("")
    L.append("## Failures")
    L.append("")
    if summary["failures"]:
        L.append("| symbol | error |")
        L.append("|---|---|")
        for f in summary["failures"]:
            L.append(f"| {md(f['symbol'])} | {md(f['error'])} |")
    else:
        L.append("None.")
    L.append("")
    if summary.get("plot_errors"):
        L.append("Plots that could not be drawn (the events are reported above without them):")
        L.append("")
        for f in summary["plot_errors"]:
            L.append(f"- {md(f['symbol'])}: {md(f['error'])}")
        L.append("")
    return "\n".join(L)


_META_SHOWN = ("universe_size", "n_symbols", "date")  # already in the summary lines


def _meta_value(v: Any) -> str:
    if isinstance(v, (Mapping, list, tuple, set)):
        return json.dumps(jsonable(v), ensure_ascii=False, sort_keys=True)
    return str(jsonable(v))


def _key(e: Mapping) -> str:
    return f"{e.get('id')}|{e.get('symbol')}|{e.get('date')}"


# --- HTML -------------------------------------------------------------------------------------------

_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;
margin:0 auto;max-width:1180px;padding:18px 28px;color:#1d2330;line-height:1.45;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.22em;margin:1.6em 0 .4em;border-bottom:1px solid #e3e6ea;
padding-bottom:.2em}h3{font-size:1em;margin:1em 0 .3em;color:#444}
table{border-collapse:collapse;margin:.4em 0 .8em;font-size:.9em}td,th{border:1px solid #e3e6ea;padding:3px 8px;
vertical-align:top;text-align:left}th{background:#f5f7fa;font-weight:600}
table.summary td:first-child,table.figs td:first-child{color:#555;white-space:nowrap}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.78em;color:#fff;background:#777;
vertical-align:middle}.v-news_linked{background:#1f6fb4}.v-no_public_news{background:#b35900}
.v-market_wide{background:#6c757d}.v-sector_wide{background:#8e44ad}.tier{font-size:.78em;color:#777}
.expl{font-size:1.02em;margin:.3em 0 .6em;padding:.35em .7em;background:#fbf6e3;border-left:3px solid #f4c542}
.role{font-weight:600}.r-precursor{color:#e67e22}.r-concurrent{color:#8e44ad}.r-response{color:#1f6fb4}
.r-clarification{color:#0fa3b1}img.plot{max-width:100%;border:1px solid #e3e6ea;margin:.4em 0}
ol.toc li{margin:.15em 0}.muted{color:#777}.fail td{color:#a12}code{font-size:.92em}
.nowrap{white-space:nowrap}
"""


def _a(text: str, url: Any) -> str:
    u = safe_url(url)
    if u is None:
        return h(text) + (f' <span class="muted">({h(url)})</span>' if url else "")
    return f'<a href="{html.escape(u, quote=True)}" rel="noopener noreferrer nofollow">{h(text)}</a>'


def _css_token(v: Any) -> str:
    return re.sub(r"[^a-z_]", "", str(v or "").lower())[:20]


def render_html(date_label: str, events: Sequence[Mapping], summary: Mapping, meta: Mapping,
                images: Mapping[str, bytes | None]) -> str:
    """report.html text; ``images`` maps event key → PNG bytes to embed (or None)."""
    o: list[str] = []
    o.append("<!DOCTYPE html>")
    o.append('<html lang="zh-CN"><head><meta charset="utf-8">')
    o.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    o.append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">")
    o.append(f"<title>A-share anomaly report · {h(date_label)}</title>")
    o.append(f"<style>{_CSS}</style></head><body>")
    o.append(f"<h1>A-share anomaly report · {h(date_label)}</h1>")
    uni = summary.get("universe_size")
    rows = [("date", h(date_label)), ("universe", f"{h(uni) if uni is not None else '—'} symbols"),
            ("anomalies", str(summary["anomalies"])), ("events", str(summary["events"])),
            ("rumor-linked", str(summary["rumor_linked"])),
            ("verdicts", ", ".join(f"{h(k)} {v}" for k, v in summary["verdicts"].items()) or "—"),
            ("market-wide flags", f"market_wide {summary['market_wide']}, sector_wide {summary['sector_wide']}"),
            ("failed symbols", str(len(summary["failures"])))]
    rows += [(h(k), h(_meta_value(meta[k]))) for k in sorted(meta)
             if k not in _META_SHOWN and not (k == "universe" and isinstance(meta[k], (list, tuple)))]
    o.append('<table class="summary">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>")
    if events:
        o.append('<h2>Events <span class="muted">(most in need of a look first)</span></h2><ol class="toc">')
        for i, e in enumerate(events, 1):
            o.append(f'<li><a href="#e{i}">{_who(e, h)} · {h(e.get("date"))}</a> '
                     f'<span class="verdict v-{_css_token(e.get("verdict"))}">{h(e.get("verdict"))}</span> '
                     f'<span class="tier">{TIER_NAMES[tier(e)]}</span></li>')
        o.append("</ol>")
    else:
        o.append("<p>No events.</p>")
    for i, e in enumerate(events, 1):
        o.append(f'<section id="e{i}"><h2>{i}. {_who(e, h)} · {h(e.get("date"))} '
                 f'<span class="verdict v-{_css_token(e.get("verdict"))}">{h(e.get("verdict"))}</span> '
                 f'<span class="tier">{TIER_NAMES[tier(e)]}</span></h2>')
        if e.get("explanation"):
            o.append(f'<p class="expl">{h(clean(e.get("explanation"), 400))}</p>')
        o.append('<table class="figs">' + "".join(
            f"<tr><td>{h(k)}</td><td>{h(v)}</td></tr>" for k, v in _figures(e)) + "</table>")
        news = _numbered_news(e)
        if news:
            o.append("<h3>Linked news</h3><table class=\"news\"><tr><th>#</th><th>time</th><th>role</th>"
                     "<th>kind</th><th>source</th><th>title</th><th>score</th><th>why</th></tr>")
            for n_, n in news:
                reasons = "; ".join(clean(r, 80) for r in (n.get("reasons") or [])[:4])
                o.append(f'<tr><td>{n_}</td><td class="nowrap">{h(news_time(n))}</td>'
                         f'<td class="role r-{_css_token(n.get("role"))}">{h(n.get("role"))}</td>'
                         f'<td>{h(n.get("kind"))}</td><td>{h(clean(n.get("source"), 80))}</td>'
                         f'<td>{_a(clean(n.get("title"), 200), n.get("url"))}</td>'
                         f'<td>{h(_f(_num(n.get("score"))))}</td><td class="muted">{h(reasons)}</td></tr>')
            o.append("</table>")
        else:
            o.append('<p class="muted">No public news linked.</p>')
        others = [a for a in (e.get("anomalies") or []) if isinstance(a, Mapping)]
        if others:
            o.append("<details><summary>All findings of this symbol-day</summary><ul>" + "".join(
                f"<li><code>{h(a.get('kind'))}</code> {h(_pct(_num(a.get('magnitude'))))} vs "
                f"{h(a.get('reference'))} (score {h(_f(_num(a.get('score'))))}, p {h(_p(_num(a.get('p_value'))))})</li>"
                for a in others) + "</ul></details>")
        png = images.get(_key(e))
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            o.append(f'<img class="plot" alt="event plot {h(e.get("symbol"))}" src="data:image/png;base64,{b64}">')
        o.append("</section>")
    o.append('<section id="failures"><h2>Failures</h2>')
    if summary["failures"]:
        o.append('<table class="fail"><tr><th>symbol</th><th>error</th></tr>' + "".join(
            f"<tr><td>{h(f['symbol'])}</td><td>{h(f['error'])}</td></tr>" for f in summary["failures"]) + "</table>")
    else:
        o.append("<p>None.</p>")
    if summary.get("plot_errors"):
        o.append('<p class="muted">Plots that could not be drawn (the events are reported above without them):</p><ul>'
                 + "".join(f"<li>{h(f['symbol'])}: {h(f['error'])}</li>" for f in summary["plot_errors"]) + "</ul>")
    o.append("</section></body></html>")
    return "\n".join(o) + "\n"


# --- the writer -------------------------------------------------------------------------------------


def write_report(out_dir: str | os.PathLike, date_label: str, events: Iterable[Mapping] | None,
                 anomalies: pd.DataFrame | Iterable[Mapping] | None, failures=None,
                 meta: Mapping | None = None, *,
                 plot: Callable[[Mapping], bytes | None] | None = None) -> dict[str, Any]:
    """Write the report files into ``out_dir`` and return their paths.

    ``events``    event dicts (any order; ranked here); ``anomalies`` the anomaly frame/records;
    ``failures``  ``{symbol: reason}`` or a list of ``{"symbol", "error"}`` dicts / ``(symbol, reason)``
                  pairs — listed in a "Failures" section (the scan exits 1 when there are any);
    ``meta``      extra header facts (``universe_size`` or ``universe``, ``source``, ``generated_at``…);
    ``plot``      optional callback ``event → PNG bytes`` (e.g. ``lambda e: event_plot_png(e, bars, idx)``);
                  its output is written to ``plot_relpath(event)`` (a callback returning ``None`` may
                  have written that file itself). Without it, existing files at
                  ``plot_relpath(event)`` or ``plots/<symbol>.png`` are used. A failing callback
                  does not stop the report: the event shows no plot and the error is listed under
                  "plot errors" (not counted as a failed symbol).

    Returns ``{"markdown", "html", "events", "anomalies", "summary": Path, "plots": [Path, …]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    if anomalies is not None and not isinstance(anomalies, pd.DataFrame):
        anomalies = list(anomalies)
    ranked = rank_events(list(events or []))
    fails = _failures(failures)

    rels: dict[str, str | None] = {}
    images: dict[str, bytes | None] = {}
    plot_paths: list[Path] = []
    plot_errors: list[tuple[str, str]] = []
    for e in ranked:
        k = _key(e)
        rel = plot_relpath(e)
        data = None
        if plot is not None:
            try:
                data = plot(e)
            except Exception as exc:  # one bad plot must not sink the report
                plot_errors.append((clean(e.get("symbol"), 40) or "?", f"{type(exc).__name__}: {clean(exc, 300)}"))
                data = None
            if data:
                _atomic_write(out / rel, data)
            elif (out / rel).is_file():  # the callback wrote the file itself
                data = (out / rel).read_bytes()
        else:
            for cand in (rel, f"plots/{Path(rel).name.split('_')[0]}.png"):
                if (out / cand).is_file():
                    rel, data = cand, (out / cand).read_bytes()
                    break
        rels[k] = rel if data else None
        images[k] = data
        if data:
            plot_paths.append(out / rel)
    summary = _summary(date_label, ranked, anomalies, fails, meta, sorted(set(plot_errors)))
    paths = {
        "events": out / "events.json",
        "anomalies": out / "anomalies.csv",
        "summary": out / "summary.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    _atomic_write(paths["events"], events_to_json(ranked, rank=False).encode("utf-8"))
    _atomic_write(paths["anomalies"], anomalies_to_csv(anomalies).encode("utf-8"))
    _atomic_write(paths["summary"], _dumps({**summary, "meta": meta,
                                            "rank": [str(e.get("id") or _key(e)) for e in ranked]}).encode("utf-8"))
    _atomic_write(paths["markdown"], render_markdown(date_label, ranked, summary, meta, rels).encode("utf-8"))
    _atomic_write(paths["html"], render_html(date_label, ranked, summary, meta, images).encode("utf-8"))
    return {**paths, "plots": plot_paths}
