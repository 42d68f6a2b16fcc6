"""Source adapters by name: ``sample``, ``csv:PATH``, ``akshare``, ``baostock``, ``synthetic[:SEED]``.

``store`` is not a source but a mode of the commands (read only what the store holds)."""
from __future__ import annotations

from ..errors import BadInput
from .base import Source

NAMES = ("sample", "store", "akshare", "baostock", "synthetic", "csv:PATH")


def get_source(name: str, **options) -> Source:
    """Build a source from its name as typed on the command line or in a config."""
    name = (name or "").strip()
    if name == "sample":
        from .sample import SampleSource
        return SampleSource()
    if name.startswith("csv:"):
        from .csvfile import CsvSource
        if not name[4:].strip():
            raise BadInput("csv source needs a path: csv:FILE.csv or csv:FOLDER")
        return CsvSource(name[4:])
    if name == "akshare":
        from .akshare_source import AkshareSource
        return AkshareSource(**options)
    if name == "baostock":
        from .baostock_source import BaostockSource
        return BaostockSource(**options)
    if name == "synthetic" or name.startswith("synthetic:"):
        from .synthetic import SyntheticSource
        seed = name.partition(":")[2]
        if seed and not seed.isdigit():
            raise BadInput(f"synthetic source seed must be a whole number, got {seed!r}")
        return SyntheticSource(int(seed) if seed else 7)
    raise BadInput(f"unknown source {name!r}; use one of {', '.join(NAMES)}")


__all__ = ["Source", "get_source", "NAMES"]
