"""Configuration: TOML files in ``configs/`` validated into typed, frozen dataclasses.

Errors name the file and the dotted key (``detect.params.range.z: expected a number, got "x"``).
Config files are data only: nothing in them is imported, evaluated or executed.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput, ConfigError

# Upper bounds of the numeric settings: beyond them a value is a typo (a scan must not retry forever).
MAX_RETRIES = 20
MAX_TIMEOUT = 3600.0        # seconds per upstream call
MAX_DELAY = 600.0           # backoff / min_interval seconds
MAX_WORKERS = 1024
MAX_PLOTS = 10_000


@dataclass(frozen=True)
class SourceConfig:
    default: str = "sample"          # sample | store | akshare | baostock | csv:PATH | synthetic
    timeout: float = 20.0            # seconds per upstream call
    retries: int = 3
    backoff: float = 1.0             # first retry delay, doubled each time, with jitter
    min_interval: float = 0.5        # per-site rate limit (seconds between calls)

    def options_for(self, name: str) -> dict:
        """Keyword options for the named source (network policy for the remote ones)."""
        if name in ("akshare", "baostock"):
            return dict(timeout=self.timeout, retries=self.retries, backoff=self.backoff,
                        min_interval=self.min_interval)
        return {}


@dataclass(frozen=True)
class UniverseConfig:
    name: str = "watchlist"          # watchlist | sample | all
    watchlist: tuple[str, ...] = ("002230",)


@dataclass(frozen=True)
class DetectConfig:
    daily: tuple[str, ...] = ("range", "abnormal_return", "vol_surprise", "volume_surge", "limits",
                              "deviation", "lhb")
    # lee_mykland is available but not a default: at its nominal 1 % it still flags ~1 bar a day on
    # real index minute bars (microstructure), too noisy for alerting; the cliff detector alerts.
    intraday: tuple[str, ...] = ("cliff",)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # board → index id the market model / 偏离值 is measured against, e.g. {"SZ.main": "399001.SZ"}
    benchmarks: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanConfig:
    out: str = "out"
    freq: str = "daily"
    engine: str = "local"            # local | dask
    workers: int = 2
    scheduler: str = ""              # dask scheduler address or "local-cluster"
    plots: bool = True
    max_plots: int = 40
    fetch_news: bool = True


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    store: str = ""                  # store folder; "" = $ANOMALY_STORE or ~/.local/share/anomaly/store
    universe: UniverseConfig = field(default_factory=UniverseConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    # [link] is the correlator's table (anomaly.linkconfig.LinkConfig keys) plus ``news = false``
    # to skip news altogether; validated at load time.
    link: dict[str, Any] = field(default_factory=dict)
    scan: ScanConfig = field(default_factory=ScanConfig)
    path: str = ""                   # where it was read from (not a key in the file)

    @property
    def link_news(self) -> bool:
        return bool(self.link.get("news", True))

    def link_config(self):
        """The correlator's parameters (``anomaly.linkconfig.LinkConfig``)."""
        from .linkconfig import LinkConfig

        table = {k: v for k, v in self.link.items() if k != "news"}
        return LinkConfig.from_dict(table, where=f"{self.path + ': ' if self.path else ''}link")


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a TOML config; ``None`` gives the built-in defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8-sig"))   # a BOM (Windows editors) is fine
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    raw.pop("path", None)
    cfg = _build(Config, raw, f"{p}: ")
    cfg = dataclasses.replace(cfg, path=str(p))
    return _check_values(cfg, f"{p}: ")


def _build(cls, data: Any, where: str, prefix: str = ""):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}{prefix.rstrip('.') or 'top level'}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)} - {"path"}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{where}unknown key {dotted!r} (known here: {', '.join(sorted(fields))})")
        kwargs[key] = _convert(hints[key], value, where, dotted)
    return cls(**kwargs)


def _convert(tp, value, where: str, dotted: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, dotted + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{dotted}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}{dotted}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}{dotted}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}{dotted}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}{dotted}: expected a string, got {value!r}")
        _check_text(value, where, dotted)
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if args else str
        if item is str:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}{dotted}: expected a list of strings, got {value!r}")
            for v in value:
                _check_text(v, where, dotted)
            return tuple(value)
        if not isinstance(value, list):
            raise ConfigError(f"{where}{dotted}: expected a list, got {value!r}")
        return tuple(_convert(item, v, where, f"{dotted}[{i}]") for i, v in enumerate(value))
    if origin in (list, collections.abc.Sequence):
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}{dotted}: expected a list, got {value!r}")
        return tuple(_convert(args[0], v, where, f"{dotted}[{i}]") if args else v for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{dotted}: expected a table, got {value!r}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:            # Optional[X]: TOML has no null, so the value must be an X
            return _convert(options[0], value, where, dotted)
        return value
    return value


def _check_text(value: str, where: str, dotted: str) -> None:
    """Paths, names and addresses never hold control characters (NUL truncates paths in C calls)."""
    bad = next((ch for ch in value if ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise ConfigError(f"{where}{dotted}: contains a control character ({bad!r}); "
                          "expected plain text")


def _check_source_name(name: str, where: str) -> None:
    """``source.default`` names a source the library can build (a csv: file is checked when read)."""
    from . import sources

    if name == "store" or (name.startswith("csv:") and name[4:].strip()):
        return                            # a csv: file is checked when it is read
    try:
        sources.get_source(name)          # cheap: no adapter touches the network or a file here
    except BadInput as exc:
        known = name.split(":")[0] in ("synthetic", "csv")
        raise ConfigError(f"{where}source.default: " + (str(exc) if known else
                          f"unknown source {name!r} (use sample, store, akshare, baostock, synthetic[:SEED] "
                          "or csv:PATH)")) from None


def _check_values(cfg: Config, where: str) -> Config:
    """Check values beyond their types; return the config with detector parameters converted to the
    detectors' field types and benchmark indices in canonical form."""
    from .detect import available

    known = set(available())
    for key in ("daily", "intraday"):
        for name in getattr(cfg.detect, key):
            if name not in known:
                raise ConfigError(f"{where}detect.{key}: unknown detector {name!r} (known: {', '.join(sorted(known))})")
    for name, params in cfg.detect.params.items():
        if name not in known:
            raise ConfigError(f"{where}detect.params.{name}: unknown detector (known: {', '.join(sorted(known))})")
        if not isinstance(params, dict):
            raise ConfigError(f"{where}detect.params.{name}: expected a table of parameters")
    params = {name: _checked_params(name, table, where) for name, table in cfg.detect.params.items()}
    _check_source_name(cfg.source.default, where)
    if cfg.universe.name not in ("watchlist", "sample", "all"):
        raise ConfigError(f"{where}universe.name: expected watchlist, sample or all, got {cfg.universe.name!r}")
    if cfg.scan.engine not in ("local", "dask"):
        raise ConfigError(f"{where}scan.engine: expected local or dask, got {cfg.scan.engine!r}")
    if cfg.scan.freq not in ("daily", "1min", "5min"):
        raise ConfigError(f"{where}scan.freq: expected daily, 1min or 5min, got {cfg.scan.freq!r}")
    for name in ("timeout", "backoff", "min_interval"):
        if getattr(cfg.source, name) < 0:
            raise ConfigError(f"{where}source.{name}: must not be negative")
    if cfg.source.retries < 0 or cfg.scan.workers < 1:
        raise ConfigError(f"{where}source.retries must be ≥ 0 and scan.workers ≥ 1")
    for dotted, value, hi in (("source.timeout", cfg.source.timeout, MAX_TIMEOUT),
                              ("source.backoff", cfg.source.backoff, MAX_DELAY),
                              ("source.min_interval", cfg.source.min_interval, MAX_DELAY),
                              ("source.retries", cfg.source.retries, MAX_RETRIES),
                              ("scan.workers", cfg.scan.workers, MAX_WORKERS),
                              ("scan.max_plots", cfg.scan.max_plots, MAX_PLOTS)):
        if not 0 <= value <= hi:
            raise ConfigError(f"{where}{dotted}: expected 0 to {hi}, got {value}")
    _check_watchlist(cfg, where)
    if not isinstance(cfg.link.get("news", True), bool):
        raise ConfigError(f"{where}link.news: expected true or false")
    cfg.link_config()
    benchmarks = {}
    for k, v in cfg.detect.benchmarks.items():
        if "." not in k or not isinstance(v, str):
            raise ConfigError(f"{where}detect.benchmarks.{k}: expected \"EXCHANGE.board\" = \"index id\"")
        benchmarks[k] = _index_id(v, where, f"detect.benchmarks.{k}")
    detect = dataclasses.replace(cfg.detect, params=params, benchmarks=benchmarks)
    return dataclasses.replace(cfg, detect=detect)


def _index_id(value: str, where: str, dotted: str) -> str:
    from .errors import UnknownSymbol
    from .symbols import resolve

    try:
        sym = resolve(value)
    except UnknownSymbol as exc:
        raise ConfigError(f"{where}{dotted}: {exc}") from None
    if not sym.is_index:
        raise ConfigError(f"{where}{dotted}: {value!r} is a stock ({sym}), expected an index such as 399001.SZ")
    return sym.id


def _check_watchlist(cfg: Config, where: str) -> None:
    from .errors import UnknownSymbol
    from .symbols import resolve

    wl = cfg.universe.watchlist
    if cfg.universe.name == "watchlist" and not wl:
        raise ConfigError(f"{where}universe.watchlist: the watch-list is empty (universe.name is \"watchlist\"); "
                          "list at least one symbol, e.g. [\"002230\"]")
    for i, entry in enumerate(wl):
        try:
            resolve(entry)
        except UnknownSymbol as exc:
            raise ConfigError(f"{where}universe.watchlist[{i}]: {exc}") from None


def _checked_params(name: str, params: dict, where: str) -> dict:
    """A detector's parameter table converted to the detector's field types; unknown keys,
    wrong types and values the detector itself refuses name ``detect.params.NAME.KEY``."""
    from .detect import REGISTRY, make_detector

    cls = REGISTRY[name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init} if dataclasses.is_dataclass(cls) else set()
    hints = typing.get_type_hints(cls) if fields else {}
    out = {}
    for k, v in params.items():
        dotted = f"detect.params.{name}.{k}"
        if k not in fields:
            raise ConfigError(f"{where}{dotted}: unknown parameter (parameters of {name}: "
                              f"{', '.join(sorted(fields)) or 'none'})")
        out[k] = _convert(hints.get(k, Any), v, where, dotted)
    try:
        make_detector(name, **out)
    except ConfigError as exc:
        raise ConfigError(f"{where}detect.params.{name}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"{where}detect.params.{name}: {exc}") from None
    return out
