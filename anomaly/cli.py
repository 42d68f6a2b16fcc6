"""The ``anomaly`` command line: thin click commands that compose the library stages.

Every command accepts the common options after its name (``--store``, ``--source``, ``--config``,
``-v``) and prints machine output with ``--format json`` (one JSON document on stdout) or ``csv``.
Exit codes: 0 success, 1 finished with some symbols failed, 2 bad input or usage.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .errors import AnomalyError, BadInput

EXIT_OK, EXIT_PARTIAL, EXIT_BAD_INPUT = 0, 1, 2


# --- shared option bundles ------------------------------------------------------------------------

@dataclass
class Env:
    """What the common options resolve to, built once per command."""
    store_path: str | None
    source: str | None
    config_path: str | None
    verbose: int

    @functools.cached_property
    def config(self):
        from .config import load_config
        return load_config(self.config_path)

    @functools.cached_property
    def store(self):
        from .store import Store
        return Store(self.store_path or self.config.store or None)

    def source_name(self, default: str | None = None) -> str:
        # An explicit --store with no --source means "read what that store holds".
        if self.source:
            return self.source
        if self.store_path:
            return "store"
        return default or self.config.source.default

    def source_options(self) -> dict:
        s = self.config.source
        name = self.source_name()
        if name in ("akshare", "baostock"):
            return dict(timeout=s.timeout, retries=s.retries, backoff=s.backoff, min_interval=s.min_interval)
        return {}


def common_options(fn):
    """--store/--source/--config/-v on every command, collected into an ``Env`` first argument."""
    @click.option("--store", "store_path", type=click.Path(file_okay=False), default=None,
                  help="Store folder (default: $ANOMALY_STORE or ~/.local/share/anomaly/store).")
    @click.option("--source", default=None,
                  help="sample | store | akshare | baostock | synthetic[:SEED] | csv:PATH.")
    @click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                  help="TOML config file (see configs/).")
    @click.option("-v", "--verbose", count=True, help="More log detail on stderr (-vv for debug).")
    @functools.wraps(fn)
    def wrapper(store_path, source, config_path, verbose, **kwargs):
        _setup_logging(verbose)
        click.get_current_context().meta["verbose"] = verbose
        if source and source.startswith("synthetic"):
            click.echo("note: --source synthetic is SIMULATED data with planted events, not market data", err=True)
        env = Env(store_path, source, config_path, verbose)
        if config_path:
            env.config  # a bad --config fails every command the same way, before anything runs
        return fn(env, **kwargs)
    return wrapper


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def date_range_options(fn):
    fn = click.option("--end", callback=_date, required=True, help="Last trade date, YYYY-MM-DD.")(fn)
    fn = click.option("--start", callback=_date, required=True, help="First trade date, YYYY-MM-DD.")(fn)
    return fn


freq_option = click.option("--freq", type=click.Choice(["daily", "1min", "5min", "15min", "30min", "60min"]),
                           default="daily", show_default=True, help="Bar frequency.")
format_option = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                             default="table", show_default=True, help="Output format.")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    if not any(getattr(h, "_anomaly", False) for h in root.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        h._anomaly = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    # dask.distributed logs its cluster chatter at INFO on its own handlers; keep it for -vv.
    logging.getLogger("distributed").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def _check_range(start: dt.date, end: dt.date, trading: bool = False) -> None:
    """``--start``/``--end`` in order; with ``trading``, at least one trading day between them."""
    if end < start:
        raise BadInput(f"--end {end} is before --start {start}")
    if trading:
        from . import calendar

        if len(calendar.trading_days(start, end)) == 0:
            reasons = [calendar.why_closed(d) for d in _dates(start, end)]
            raise BadInput("no trading day in the range: " + "; ".join(r for r in reasons if r)[:400])


# --- output ---------------------------------------------------------------------------------------

def emit_frame(df, fmt: str, json_doc=None) -> None:
    """Print a frame as a table, one JSON document, or CSV (timestamps as ISO-8601 with zone)."""
    from .output import frame_records, terminal_safe

    if fmt == "json":
        doc = json_doc if json_doc is not None else frame_records(df)
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
    elif fmt == "csv":
        out = df.copy()
        for c in out.columns:
            if hasattr(out[c], "dt") and getattr(out[c].dt, "tz", None) is not None:
                out[c] = out[c].map(lambda t: t.isoformat())
            elif out[c].map(lambda v: isinstance(v, dict)).any():
                out[c] = out[c].map(lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, default=str))
        click.echo(out.to_csv(index=False), nl=False)
    else:
        import pandas as pd
        shown = df.copy()
        for c in shown.columns:
            if shown[c].dtype == object or pd.api.types.is_string_dtype(shown[c]):
                shown[c] = shown[c].map(lambda v: terminal_safe(v) if isinstance(v, str) else v)
            if len(shown) and shown[c].map(lambda v: isinstance(v, dict)).any():
                # The full dict is in --format json/csv; a table shows its first keys.
                shown[c] = shown[c].map(lambda v: _brief(v) if isinstance(v, dict) else v)
            if c in ("volume", "amount") and pd.api.types.is_float_dtype(shown[c]):
                # shares and yuan, for reading: no ".0", no e+09 (exact figures: --format json/csv)
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
            if shown[c].dtype == object or pd.api.types.is_string_dtype(shown[c]):
                shown[c] = shown[c].astype(object).where(shown[c].notna(), "")
            elif pd.api.types.is_float_dtype(shown[c]) and shown[c].isna().any():
                # a missing figure is blank, not "NaN" (six significant digits for the rest)
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.6g}")
        # East-Asian width: Chinese names take two columns, so the table stays aligned.
        with pd.option_context("display.max_rows", 500, "display.max_columns", 20, "display.width", 250,
                               "display.max_colwidth", 70, "display.unicode.east_asian_width", True):
            click.echo(shown.to_string(index=False) if len(shown) else "(nothing)")


def _brief(d: dict, width: int = 68) -> str:
    from .output import terminal_safe

    parts = []
    for k, v in d.items():
        if isinstance(v, (dict, list)) or k == "formula":
            continue
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    text = terminal_safe(" ".join(parts))
    return text if len(text) <= width else text[:width - 1] + "…"


# --- commands -------------------------------------------------------------------------------------

EPILOG_FETCH = """\b
Example:
  anomaly fetch 002230 399001 --start 2023-01-01 --end 2023-06-30 --source sample --store ./store
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="anomaly")
def cli():
    """Find abnormal A-share price moves and the news and rumors around them.

    \b
    Example (offline, bundled real data):
      anomaly link 002230 --date 2023-05-24 --source sample
      anomaly scan --config configs/demo.toml --date 2023-05-24 --out out
    """


@cli.command(epilog=EPILOG_FETCH)
@click.argument("symbols", nargs=-1, required=True)
@date_range_options
@freq_option
@click.option("--news", is_flag=True, help="Also fetch news into the store.")
@click.option("--refresh", is_flag=True, help="Ask the source again even for days already stored.")
@format_option
@common_options
def fetch(env: Env, symbols, start, end, freq, news, refresh, fmt):
    """Pull bars (and with --news, news) into the store, asking only for what is missing."""
    import importlib
    fetching = importlib.import_module("anomaly.fetch")
    from .sources import get_source
    from .symbols import resolve_many
    import pandas as pd

    _check_range(start, end)
    syms = resolve_many(symbols)
    name = env.source or env.config.source.default
    if name == "store":
        raise BadInput("fetch needs a data source (--source sample|akshare|baostock|csv:PATH|synthetic)")
    source = get_source(name, **env.source_options())
    results = fetching.fetch(env.store, source, syms, start, end, freq, refresh=refresh, news=news)
    if results and all(not r.ok and r.bad_input for r in results):
        raise BadInput(results[0].error)
    table = pd.DataFrame([{
        "symbol": r.symbol, "asked": "; ".join(f"{s}..{e}" for s, e in r.spans) or "nothing new",
        "rows": r.rows, "files_written": r.files_written, "news_added": r.news_added,
        "error": r.error or ""} for r in results])
    if fmt == "table":
        for r in results:
            if r.error:
                click.echo(f"{r.symbol}: FAILED: {r.error}")
            elif not r.spans:
                click.echo(f"{r.symbol}: nothing new (already stored {start}..{end})"
                           + (f"; {r.news_added} news added" if news else ""))
            else:
                click.echo(f"{r.symbol}: {r.rows} bars for {', '.join(f'{s}..{e}' for s, e in r.spans)}; "
                           f"{r.files_written} file(s) written" + (f"; {r.news_added} news added" if news else ""))
        click.echo(f"store: {env.store.root}", err=True)
    else:
        emit_frame(table, fmt)
    return _exit_for(results)


def _exit_for(results) -> int:
    failed = [r for r in results if not r.ok]
    if not failed:
        return EXIT_OK
    if len(failed) == len(results) and all(r.bad_input for r in failed):
        raise BadInput(failed[0].error)
    return EXIT_PARTIAL


@cli.command(name="import-news", epilog="""\b
Example:
  anomaly import-news my_archive.csv --store ./store        # CSV/TSV/JSONL/JSON, UTF-8 or GBK
  anomaly import-news clips.jsonl --symbol 002230           # rows without a symbol belong to 002230
""")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--symbol", default=None, help="Symbol for rows that name none (else they are market-wide).")
@common_options
def import_news(env: Env, files, symbol):
    """Add a news archive to the store; items already stored (same id) are skipped."""
    from .news import read_news_file
    from .symbols import resolve

    sym = resolve(symbol).id if symbol else None
    frames = [(f, read_news_file(f, symbol=sym)) for f in files]  # all files parse before anything is written
    for f, items in frames:
        added = env.store.write_news(items)
        click.echo(f"{f}: {len(items)} item(s), {added} new, {len(items) - added} already stored")
    click.echo(f"store: {env.store.root}", err=True)


@cli.command(epilog="""\b
Example:
  anomaly bars 002230 --start 2023-05-22 --end 2023-05-26 --source sample --format json
""")
@click.argument("symbol")
@date_range_options
@freq_option
@format_option
@common_options
def bars(env: Env, symbol, start, end, freq, fmt):
    """Print canonical bars of one symbol (ts is the bar's end, Asia/Shanghai)."""
    from .fetch import load_bars
    from .symbols import resolve

    _check_range(start, end, trading=True)
    sym = resolve(symbol)
    df = load_bars(env.source_name(), [sym], start, end, freq, store=env.store, **env.source_options())
    emit_frame(df, fmt)


def _dates(start: dt.date, end: dt.date):
    d = start
    while d <= end:
        yield d
        d += dt.timedelta(days=1)


@cli.command(name="calendar", epilog="""\b
Example:
  anomaly calendar 2023-06-22          # why is there no bar that day?
  anomaly calendar 2023-06-20 2023-06-27
""")
@click.argument("first", callback=_date)
@click.argument("last", callback=_date, required=False)
@common_options
def calendar_cmd(env: Env, first, last):
    """Say which days are trading days, and why the others are not (SSE/SZSE calendar)."""
    from . import calendar

    last = last or first
    if last < first:
        raise BadInput(f"the second date {last} is before the first {first}")
    for d in _dates(first, last):
        reason = calendar.why_closed(d)
        click.echo(f"{d}  trading day" if reason is None else f"{d}  closed: {reason}")


@cli.command(epilog="""\b
Examples:
  anomaly symbols 科大讯飞 sz002230 399001 000001 sh000001
  anomaly symbols --source sample          (no arguments: every stock the source can list)
""")
@click.argument("texts", nargs=-1)
@format_option
@common_options
def symbols(env: Env, texts, fmt):
    """Resolve codes and names to canonical symbols with exchange and board; with no arguments,
    list the stocks of a source (``--source sample``: the bundled panel)."""
    import pandas as pd
    from .sources import get_source
    from .symbols import resolve

    if texts:
        found = [(t, resolve(t)) for t in texts]
    else:
        name = env.source_name("sample")
        if name == "store":        # not a source: what the store holds
            listed = [resolve(i) for i in env.store.symbols()]
        else:
            listed = get_source(name, **env.source_options()).universe()
        if not listed:
            raise BadInput(f"source {name!r} cannot list its symbols; give codes or names to resolve")
        found = [(s.id, s) for s in listed]
    rows = [{"input": t, "symbol": s.id, "name": s.name, "exchange": s.exchange, "board": s.board,
             "kind": s.kind, "industry": s.industry} for t, s in found]
    emit_frame(pd.DataFrame(rows), fmt)


@cli.command(epilog="""\b
Example:
  anomaly news 002230 --start 2023-05-23 --end 2023-05-26 --source sample
""")
@click.argument("symbol")
@date_range_options
@format_option
@common_options
def news(env: Env, symbol, start, end, fmt):
    """Print canonical news about a symbol (and market-wide items) in a date range."""
    from .fetch import load_news
    from .symbols import resolve

    _check_range(start, end)
    sym = resolve(symbol)
    df = load_news(env.source_name(), sym, start, end, store=env.store, **env.source_options())
    cols = ["ts", "ts_precision", "kind", "source", "title", "url"] if fmt == "table" else list(df.columns)
    emit_frame(df[cols], fmt)


@cli.command(epilog="""\b
Examples:
  anomaly detect 002230 --start 2023-05-01 --end 2023-05-31 --source sample
  anomaly detect --universe sample --start 2023-05-24 --end 2023-05-24 --format csv
  anomaly detect 000001 --freq 1min --start 2023-05-24 --end 2023-05-24 --source synthetic
""")
@click.argument("symbols", nargs=-1)
@click.option("--universe", default=None, help="sample (the bundled 292-stock panel), watchlist (from config) or all.")
@date_range_options
@freq_option
@click.option("--detector", "detectors", multiple=True, help="Run only these detectors (repeatable).")
@format_option
@common_options
def detect(env: Env, symbols, universe, start, end, freq, detectors, fmt):
    """Print anomaly records: what moved, when, how far, against what, how abnormal."""
    from .pipeline import detect_range, pick_symbols

    _check_range(start, end, trading=True)
    syms = pick_symbols(symbols, universe, env.config, env.source_name())
    result = detect_range(syms, start, end, freq, env.source_name(), env.config, store=env.store,
                          only=detectors or None, source_options=env.source_options())
    emit_frame(result.anomalies, fmt)
    for n in result.notes:
        click.echo(f"note: {n}", err=True)
    for f in result.failures:
        click.echo(f"warning: {f}", err=True)
    return EXIT_PARTIAL if result.failures else EXIT_OK


@cli.command(epilog="""\b
Example:
  anomaly link 002230 --date 2023-05-24 --source sample --format json
""")
@click.argument("symbol")
@click.option("--date", "day", callback=_date, required=True, help="Trade date, YYYY-MM-DD.")
@freq_option
@format_option
@common_options
def link(env: Env, symbol, day, freq, fmt):
    """Print events: the day's anomalies with ranked news, verdict and event study."""
    from .pipeline import link_symbol_day
    from .symbols import resolve

    events = link_symbol_day(resolve(symbol), day, freq, env.source_name(), env.config, store=env.store,
                             source_options=env.source_options())
    if fmt == "json":
        click.echo(json.dumps(events, ensure_ascii=False, indent=1, sort_keys=True, default=str))
    elif fmt == "csv":
        import pandas as pd
        emit_frame(pd.DataFrame([{k: e.get(k) for k in ("id", "symbol", "date", "verdict", "severity", "explanation")}
                                 for e in events]), "csv")
    else:
        from .output import event_text
        if not events:
            click.echo(f"no anomaly for {symbol} on {day}")
        for e in events:
            click.echo(event_text(e))


@cli.command(epilog="""\b
Example:
  anomaly plot 002230 --date 2023-05-24 --source sample --out 002230.png
""")
@click.argument("symbol")
@click.option("--date", "day", callback=_date, required=True, help="Trade date, YYYY-MM-DD.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Image file to write (.png, .svg or .pdf).")
@freq_option
@common_options
def plot(env: Env, symbol, day, out, freq):
    """Draw the event plot of one symbol-day (price, volume, news markers, market context)."""
    from .pipeline import plot_symbol_day
    from .plot import figure_format
    from .symbols import resolve

    figure_format(out)                         # an unsupported suffix is bad input before any work
    target = Path(out)
    if not target.parent.is_dir():
        raise BadInput(f"cannot write {out}: folder {target.parent} does not exist")
    try:
        path = plot_symbol_day(resolve(symbol), day, target, freq, env.source_name(), env.config,
                               store=env.store, source_options=env.source_options())
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(str(path))


@cli.command(epilog="""\b
Examples:
  anomaly scan --config configs/demo.toml --date 2023-05-24 --out out
  anomaly scan --config configs/demo.toml --start 2023-05-22 --end 2023-05-26 --out out
  anomaly scan --config configs/nightly.example.toml           # latest completed session
""")
@click.option("--date", "day", callback=_date, default=None, help="Trade date (default: latest completed session).")
@click.option("--start", callback=_date, default=None, help="Backfill from this date.")
@click.option("--end", callback=_date, default=None, help="Backfill to this date.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder (default: config scan.out).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default=None, help="Where the work runs.")
@click.option("--scheduler", default=None, help="Dask scheduler address, or local-cluster.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots (faster).")
@common_options
def scan(env: Env, day, start, end, out, engine, scheduler, no_plots):
    """The nightly job: fetch, detect, link, then write report, plots and machine-readable results."""
    from .scan import run_scan

    result = run_scan(env.config, day=day, start=start, end=end, out=out, engine=engine,
                      scheduler=scheduler, plots=not no_plots, store=env.store,
                      source=env.source, echo=lambda m: click.echo(m, err=True))
    for line in result.summary_lines():
        click.echo(line)
    return EXIT_PARTIAL if result.failures else EXIT_OK


# --- entry point ----------------------------------------------------------------------------------

def main(argv=None) -> int:
    """Run the CLI; map errors to one line on stderr and an exit code (never a raw traceback)."""
    verbose = 0
    if not (sys.argv[1:] if argv is None else argv):   # bare `anomaly`: the help, not an error
        argv = ["--help"]
    try:
        rv = cli.main(args=argv, prog_name="anomaly", standalone_mode=False)
        code = rv if isinstance(rv, int) else EXIT_OK
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "anomaly"
        hint = f" (see: {where} --help)"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        code = EXIT_BAD_INPUT
    except click.exceptions.Abort:  # click turns Ctrl-C into Abort in this mode
        click.echo("interrupted", err=True)
        code = 130
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except BadInput as exc:
        click.echo(f"error: {_one_line(exc)}", err=True)
        code = EXIT_BAD_INPUT
    except AnomalyError as exc:
        click.echo(f"error: {_one_line(exc)}", err=True)
        code = EXIT_PARTIAL
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = EXIT_OK
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, details with -v
        verbose = logging.getLogger().level <= logging.INFO
        if verbose:
            import traceback
            traceback.print_exc()
        click.echo(f"error: internal error {type(exc).__name__}: {_one_line(exc)} (run with -v for details)", err=True)
        code = EXIT_PARTIAL
    return code


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:600] if text else type(exc).__name__


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
