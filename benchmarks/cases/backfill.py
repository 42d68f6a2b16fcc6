"""backfill: the scan over a simulated whole-market backfill on the local and Dask engines.

The work lives in ``benchmarks/case_backfill.py`` (also runnable alone); this adapter puts its
records into the harness's one-JSON-object-per-line stream.
"""
from __future__ import annotations

from ..common import emit


def run(size: dict, label: str) -> None:
    from .. import case_backfill

    for rec in case_backfill.run(quick=label == "quick", tiny=label == "tiny", **size):
        emit(rec)
