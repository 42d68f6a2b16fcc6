"""Turning frames and records into JSON-able values (ISO timestamps with zone, no NaN)."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd


def jsonable(v):
    """A JSON-friendly copy of a scalar/dict/list: ISO-8601 timestamps, None for NaN, floats rounded."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return None
        return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 10)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NaT or v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def frame_records(df: pd.DataFrame) -> list[dict]:
    """Rows of a frame as JSON-able dicts, in column order."""
    cols = list(df.columns)
    return [{c: jsonable(v) for c, v in zip(cols, row)} for row in df.itertuples(index=False, name=None)]
