"""The one detector shape: parameters on a small object, ``detect(bars, context)`` → anomaly records.

Every detector
- is a dataclass whose fields are its parameters (so a config table can build it by keyword);
- declares ``name`` (registry key), ``freq`` (``"daily"`` or ``"intraday"``) and the ``kinds`` it emits;
- implements ``_detect(bars, ctx)`` on validated canonical bars of one or many symbols (sorted by
  symbol, ts) and returns anomaly records (dicts or a frame with ``schema.ANOMALY_COLUMNS``);
- never reads files or the network, and never looks at bars after the one it flags (no look-ahead:
  dropping later bars must not change an earlier record).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import BadInput, ConfigError
from ..schema import ANOMALY_COLUMNS, PRICE_COLUMNS, anomalies_frame, empty_anomalies, validate_bars


@dataclass
class Context:
    """What a detector may know besides a symbol's own bars.

    ``index_bars``  canonical bars of benchmark indices (``symbol`` = index id such as ``399001.SZ``)
    ``benchmark``   stock symbol → index id it is measured against (market model, 偏离值)
    ``meta``        frame indexed by symbol with ``name, board, exchange, industry, is_st``
    """
    index_bars: pd.DataFrame | None = None
    benchmark: Mapping[str, str] = field(default_factory=dict)
    meta: pd.DataFrame | None = None

    def board_of(self, symbols: pd.Series) -> pd.Series:
        """Board per symbol (``main`` when unknown: the strictest common limits)."""
        if self.meta is None or "board" not in self.meta:
            from ..symbols import resolve
            cache = {s: resolve(s).board for s in pd.unique(symbols)}
            return symbols.map(cache)
        return symbols.map(self.meta["board"]).fillna("main")

    def is_st_of(self, symbols: pd.Series) -> pd.Series:
        if self.meta is None or "is_st" not in self.meta:
            return pd.Series(False, index=symbols.index)
        return symbols.map(self.meta["is_st"]).fillna(False).astype(bool)


def prepare_bars(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Shared validation for every detector.

    Rows whose prices are NaN are treated as suspended (no trade) and dropped; everything else
    must satisfy the canonical schema (``schema.validate_bars``) or ``BadInput`` is raised.
    """
    if not isinstance(bars, pd.DataFrame):
        raise BadInput(f"bars must be a pandas DataFrame, got {type(bars).__name__}")
    present = [c for c in PRICE_COLUMNS if c in bars.columns]
    if present:
        bars = bars.dropna(subset=present)
    out = validate_bars(bars, freq="daily" if freq == "daily" else "1min", origin="bars")
    from ..marketmodel import sorted_codes

    if sorted_codes(out) is not None:     # already in (symbol, ts) order: the sort would copy it unchanged
        return out
    return out.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


class Detector:
    """Base class; subclasses are ``@register``-ed dataclasses."""

    name: ClassVar[str] = ""
    freq: ClassVar[str] = "daily"
    kinds: ClassVar[tuple[str, ...]] = ()
    needs_context: ClassVar[bool] = False

    def detect(self, bars: pd.DataFrame, context: Context | None = None, validated: bool = False) -> pd.DataFrame:
        """Anomaly records for ``bars``; ``validated=True`` skips the shared validation (the caller
        already ran ``prepare_bars`` for this detector's frequency, as ``run_detectors`` does)."""
        clean = bars if validated else prepare_bars(bars, self.freq)
        if clean.empty:
            return empty_anomalies()
        with _absurd_magnitudes():
            out = self._detect(clean, context or Context())
        return anomalies_frame(out)

    def _detect(self, bars: pd.DataFrame, ctx: Context) -> pd.DataFrame | list[dict]:
        raise NotImplementedError

    def history_days(self, default: int) -> int:
        """Trading days of bars before a day that its records depend on; the pipeline loads that
        many, so a record never changes with how much older history a request happens to load."""
        return int(getattr(self, "lookback_days", default))

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}


# Validated prices are finite and positive, but ratios and products of values near 1e308 (corrupt
# upstream data) overflow to inf; the detectors already treat non-finite figures as "no signal", so
# the numpy overflow warning would only be noise in a nightly log.
def _absurd_magnitudes() -> np.errstate:
    return np.errstate(over="ignore")

REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise TypeError(f"detector name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def make_detector(name: str, **params: Any) -> Detector:
    """Build a registered detector by short name; unknown names/parameters name the culprit."""
    _load_builtin()
    cls = REGISTRY.get(name)
    if cls is None:
        raise ConfigError(f"unknown detector {name!r}; known: {', '.join(sorted(REGISTRY))}")
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    for k in params:
        if k not in fields:
            raise ConfigError(f"detector {name!r} has no parameter {k!r}; "
                              f"parameters: {', '.join(fields) or 'none'}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"detector {name!r}: {exc}") from None


def available(freq: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, c in REGISTRY.items() if freq is None or c.freq == freq)


def run_detectors(bars: pd.DataFrame, detectors: Iterable[Detector],
                  context: Context | None = None) -> pd.DataFrame:
    """Run several detectors over the same bars and return one sorted anomaly frame.

    The bars are validated once per frequency, the daily detectors share one set of panel arrays
    (``marketmodel.shared_inputs``), and the records are typed and sorted once at the end — the
    result is the same as concatenating every ``detector.detect(bars, context)`` and sorting.
    """
    from ..marketmodel import shared_inputs

    detectors = list(detectors)
    frames = []
    ctx = context or Context()
    with shared_inputs():
        # Validate once per frequency, not once per detector (it is the costliest shared step).
        clean = {f: prepare_bars(bars, f) for f in dict.fromkeys(d.freq for d in detectors)}
        for d in detectors:
            if type(d).detect is not Detector.detect:       # a subclass with its own detect(): honour it
                out = d.detect(clean[d.freq], context, validated=True)
            elif clean[d.freq].empty:
                continue
            else:
                with _absurd_magnitudes():
                    out = d._detect(clean[d.freq], ctx)
                if not isinstance(out, pd.DataFrame) or list(out.columns) != ANOMALY_COLUMNS:
                    out = anomalies_frame(out)
            if len(out):
                frames.append(out)
    if not frames:
        return empty_anomalies()
    return anomalies_frame(frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True))


def _load_builtin() -> None:
    # Importing the package registers the built-in detectors (lazy here to avoid an import cycle).
    import importlib

    importlib.import_module("anomaly.detect")
