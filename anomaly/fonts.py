"""Choosing a font that can draw Chinese, without touching matplotlib's global state.

Event plots carry Chinese names and news titles. Matplotlib's default font (DejaVu Sans) has no
CJK glyphs, so Chinese would come out as empty "tofu" boxes. This module looks once per process
through the fonts matplotlib knows (``matplotlib.font_manager.fontManager``) for a family from
``CJK_FAMILIES`` whose glyph table really covers ``GLYPH_PROBE`` (a font *named* "… CJK" that
lacks the glyphs is skipped), and hands callers a ``FontProperties`` to pass explicitly to every
text artist (``fontproperties=…``, ``legend(prop=…)``, ``tick_params(labelfontfamily=…)``).
Nothing here (or in ``anomaly.plot``) ever writes ``matplotlib.rcParams``.

When no CJK font exists (or ``ANOMALY_NO_CJK_FONT=1`` / ``disabled=True`` forces that case),
``find_cjk_font`` returns ``None``, ``warn_missing`` emits one ``CJKFontMissing`` warning per
process, and ``label`` / ``ascii_text`` give readable ASCII substitutes so a plot never shows
tofu boxes.
"""
from __future__ import annotations

import os
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache

ENV_DISABLE = "ANOMALY_NO_CJK_FONT"

# Preferred families, best first: Simplified-Chinese faces before other CJK variants.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
    "Sarasa Gothic SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei",
    "SimHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti", "Droid Sans Fallback",
    "Noto Sans CJK TC", "Noto Sans CJK HK", "Noto Sans CJK JP", "Source Han Sans",
    "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN", "AR PL UKai CN", "SimSun",
    "Noto Sans CJK KR",
)
# Characters a usable font must have (names, the 2023-05-24 vocabulary and the plot's own labels).
GLYPH_PROBE = "科大讯飞闪崩跳水股价涨跌停昨收成交量新闻小作文传闻澄清回应深证成指万手盘后"
# The Latin font that carries digits and punctuation (matplotlib ships it, so it always exists).
LATIN_FAMILY = "DejaVu Sans"
# Non-ASCII symbols DejaVu Sans draws; allowed in fallback (ASCII) mode.
_FALLBACK_SAFE = set("−·×→←~…±Δ°–—●■")


class CJKFontMissing(UserWarning):
    """No installed font can draw Chinese; plots use ASCII labels instead."""


@dataclass(frozen=True)
class CJKFont:
    family: str       # family name as matplotlib knows it (e.g. "Noto Sans CJK SC")
    path: str         # font file (may be a .ttc collection)
    face_index: int   # face inside a .ttc (0 for plain .ttf/.otf)


def _env_disabled() -> bool:
    return os.environ.get(ENV_DISABLE, "").strip().lower() not in ("", "0", "false", "no")


def _is_disabled(disabled: bool | None) -> bool:
    return _env_disabled() if disabled is None else bool(disabled)


def font_charmap(path: str, face_index: int = 0) -> frozenset[int]:
    """Code points a font face has glyphs for (reads the face's cmap with matplotlib's FreeType)."""
    return _charmap(path, face_index)


@lru_cache(maxsize=16)
def _charmap(path: str, face_index: int) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path, face_index=face_index)
    except TypeError:  # matplotlib < 3.10: no face_index; face 0 of a collection
        font = FT2Font(path)
    return frozenset(font.get_charmap().keys())


@lru_cache(maxsize=1)
def _scan() -> CJKFont | None:
    """The best installed CJK font (cached for the process)."""
    from matplotlib import font_manager

    entries = list(font_manager.fontManager.ttflist)
    probe = {ord(c) for c in GLYPH_PROBE}
    by_name: dict[str, list] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    wanted = list(CJK_FAMILIES)
    # Any other family that advertises CJK in its name is a last resort.
    wanted += sorted(n for n in by_name if n not in CJK_FAMILIES
                     and any(k in n for k in ("CJK", "Han Sans", "Hei", "Song", "Kai", "Ming")))
    for name in wanted:
        cands = by_name.get(name, [])
        # Prefer the regular weight of the family.
        cands = sorted(cands, key=lambda e: (abs(_weight(e.weight) - 400), e.style != "normal", e.fname))
        for e in cands:
            idx = int(getattr(e, "index", 0) or 0)
            try:
                cmap = _charmap(e.fname, idx)
            except Exception:  # unreadable font file: try the next one
                continue
            if probe <= cmap:
                return CJKFont(name, e.fname, idx)
    return None


def _weight(w) -> int:
    if isinstance(w, (int, float)):
        return int(w)
    return {"light": 300, "normal": 400, "regular": 400, "book": 400, "medium": 500,
            "semibold": 600, "bold": 700, "heavy": 800, "black": 900}.get(str(w).lower(), 400)


def find_cjk_font(disabled: bool | None = None) -> CJKFont | None:
    """The CJK font to use, or ``None`` (no such font, or disabled by argument/``ANOMALY_NO_CJK_FONT``)."""
    if _is_disabled(disabled):
        return None
    return _scan()


def has_cjk(disabled: bool | None = None) -> bool:
    return find_cjk_font(disabled) is not None


_warn_lock = threading.Lock()
_warned = False


def warn_missing() -> None:
    """Emit the "no CJK font" warning, once per process."""
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn("no installed font can draw Chinese (looked for Noto Sans CJK SC, Source Han Sans, "
                  "WenQuanYi, SimHei, Microsoft YaHei …); plots use ASCII labels instead. "
                  "Install one, e.g. `apt-get install fonts-noto-cjk`.", CJKFontMissing, stacklevel=4)


def _reset_warning_for_tests() -> None:
    global _warned
    with _warn_lock:
        _warned = False


def families(disabled: bool | None = None) -> list[str]:
    """Font family list for text artists: the CJK family first, DejaVu Sans as glyph fallback."""
    f = find_cjk_font(disabled)
    return [f.family, LATIN_FAMILY] if f else [LATIN_FAMILY]


def font_properties(size: float | None = None, weight: str | None = None,
                    disabled: bool | None = None):
    """A ``FontProperties`` to pass as ``fontproperties=`` (never installed globally)."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=families(disabled), size=size, weight=weight)


def label(text_zh: str, text_fallback: str, disabled: bool | None = None) -> str:
    """``text_zh`` when Chinese can be drawn, else the ASCII ``text_fallback``."""
    return text_zh if has_cjk(disabled) else text_fallback


def is_ascii_safe(text: str) -> bool:
    """True when DejaVu Sans alone can draw ``text`` (ASCII plus a few typographic symbols)."""
    return all(ord(c) < 128 or c in _FALLBACK_SAFE for c in text)


def _tidy(part: str) -> str:
    part = " ".join(part.split())
    for o, c in ("()", "[]", "{}"):
        if part.count(o) != part.count(c) or (part.startswith(o) and part.endswith(c)):
            part = part.replace(o, " ").replace(c, " ")
    part = " ".join(part.split())
    return part.strip(" /,;:-|'\"·.")


def ascii_text(text: str, fallback: str = "", min_letters: int = 12) -> str:
    """An ASCII rendering of possibly-Chinese text for fallback mode (no CJK font).

    ASCII-safe text is kept as is. Otherwise the ASCII runs between the Chinese are kept when
    they still say something (together at least ``min_letters`` letters, each run at least 3),
    e.g. ``"iFlytek via media (中国基金报 / e公司)"`` → ``"iFlytek via media"``; else ``fallback``
    is returned (``"AI'小作文'导致千亿AI龙头闪崩"`` has no such runs). Full-width forms fold to ASCII.
    """
    t = unicodedata.normalize("NFKC", str(text))
    if is_ascii_safe(t):
        return t
    runs, cur = [], []
    for c in t:
        if ord(c) < 128 or c in _FALLBACK_SAFE:
            cur.append(c)
        else:
            runs.append("".join(cur))
            cur = []
    runs.append("".join(cur))
    keep = [r for r in (_tidy(r) for r in runs) if sum(ch.isalpha() for ch in r) >= 3]
    kept = " ".join(keep)
    if kept and sum(ch.isalpha() for ch in kept) >= min_letters:
        return kept
    return fallback


def apply_cjk_font(ax, disabled: bool | None = None) -> None:
    """Give every text of a matplotlib axes (title, labels, ticks, legend, annotations) the CJK
    font, per text — for analysts' own figures in notebooks; no global rcParams change."""
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts]
    if ax.get_legend():
        texts += ax.get_legend().get_texts()
    for t in texts:
        t.set_fontproperties(font_properties(t.get_fontsize(), t.get_fontweight(), disabled))
