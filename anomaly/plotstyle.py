"""The look of event plots: colours, sizes and limits in one table, untrusted text made inert and
measured, and the font style of the figure.

Control and format characters are removed, widths count CJK characters as 2, and every artist is
drawn with mathtext and TeX off (``_inert``), so a news title can neither inject markup nor produce
tofu boxes. Fonts are passed per artist (``anomaly.fonts``); no global matplotlib state is touched.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fonts


UP = "#d62728"        # A-share: red is up
DOWN = "#1a9641"      # green is down
FLAT = "#7f7f7f"
SHADE = "#f4c542"
ROLE_COLORS = {
    "precursor": "#e67e22",
    "concurrent": "#8e44ad",
    "response": "#1f6fb4",
    "clarification": "#0fa3b1",
}
OTHER_ROLE = "#7f7f7f"
ROLE_ZH = {"precursor": "前兆", "concurrent": "同期", "response": "回应", "clarification": "澄清"}
TITLE_CHARS = 22       # news titles are cut to this display width (CJK characters; plus …)
EXPLANATION_WIDTH = 82  # explanation line width under the title (two lines at most)
MAX_NEWS = 12          # items drawn and listed; the rest are counted
BADGE_PT = 6.8         # font size of the numbers in the news lane
DPI = 120
FIGSIZE = (12.0, 8.0)
MAX_INTRADAY_DAYS = 5      # intraday days drawn at most (those around the event)
DEFAULT_WINDOW = (30, 10)   # trading days before / after the event day on the daily axis
CONTEXT_BEFORE = 60         # trading days before the event in the context panel


# --- text hygiene ---------------------------------------------------------------------------------

_STRIP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean_text(text: Any, limit: int | None = None) -> str:
    """Untrusted text → one printable line: control/format/unassigned characters dropped,
    whitespace collapsed, cut to ``limit`` characters with "…"."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    s = "".join(" " if unicodedata.category(c) in ("Zs", "Zl", "Zp") or c in "\t\n\r\v\f"
                else ("" if unicodedata.category(c) in _STRIP_CATEGORIES else c) for c in str(text))
    s = " ".join(s.split())
    if limit is not None and len(s) > limit:
        s = s[:limit].rstrip() + "…"
    return s


def text_width(s: str) -> float:
    """Display width in "CJK characters": wide/full-width characters count 1, others about 0.55."""
    return sum(1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.55 for c in s)


def truncate(s: str, width: float) -> str:
    """Cut ``s`` to a display width (see ``text_width``), marking the cut with "…"."""
    if text_width(s) <= width:
        return s
    out, w = [], 0.0
    for c in s:
        cw = 1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.55
        if w + cw > width - 0.6:
            break
        out.append(c)
        w += cw
    return "".join(out).rstrip() + "…"


def wrap(s: str, width: float, max_lines: int) -> list[str]:
    """Greedy wrap to display ``width`` (``text_width`` units), breaking Latin text at spaces;
    the last allowed line is cut with "…"."""
    lines: list[str] = []
    rest = s.strip()
    while rest and len(lines) < max_lines:
        if text_width(rest) <= width:
            lines.append(rest)
            break
        if len(lines) == max_lines - 1:
            lines.append(truncate(rest, width))
            break
        cut, w = 0, 0.0
        for i, c in enumerate(rest):
            w += 1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.55
            if w > width:
                break
            cut = i + 1
        space = rest.rfind(" ", 0, cut + 1)
        if space > cut * 0.6:  # break at a word boundary when one is near
            cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines


@dataclass
class _Style:
    """Fonts and text policy for one figure (CJK or ASCII fallback)."""
    cjk: bool
    families: list[str]
    coverage: frozenset[int] | None

    def fp(self, size: float = 9.0, weight: str = "normal"):
        from matplotlib.font_manager import FontProperties

        return FontProperties(family=self.families, size=size, weight=weight)

    def t(self, zh: str, en: str) -> str:
        return zh if self.cjk else en

    def safe(self, text: Any, limit: int | None = None, fallback: str = "", min_letters: int = 12) -> str:
        s = clean_text(text, None)
        if not self.cjk:
            s = fonts.ascii_text(s, fallback, min_letters)
        elif self.coverage is not None:
            s = "".join(c if (ord(c) in self.coverage or c == " ") else "?" for c in s)
        if limit is not None:
            s = truncate(s, limit)
        return s


def _style(cjk: bool | None) -> _Style:
    if cjk is False:  # the caller chose ASCII labels: nothing to warn about
        return _Style(False, [fonts.LATIN_FAMILY], None)
    font = fonts.find_cjk_font()
    if font is None:
        fonts.warn_missing()
        return _Style(False, [fonts.LATIN_FAMILY], None)
    cover = set(fonts.font_charmap(font.path, font.face_index))
    latin = _latin_path()
    if latin:
        cover |= fonts.font_charmap(latin, 0)
    return _Style(True, fonts.families(False), frozenset(cover))


def _latin_path() -> str | None:
    from matplotlib import font_manager

    try:
        return font_manager.findfont(font_manager.FontProperties(family=fonts.LATIN_FAMILY),
                                     fallback_to_default=False)
    except Exception:
        return None


def _inert(artist) -> None:
    """Switch off mathtext and TeX for a text artist (untrusted or not)."""
    artist.set_parse_math(False)
    artist.set_usetex(False)


def _text(ax, x, y, s, st: _Style, size=9.0, weight="normal", **kw):
    t = ax.text(x, y, s, fontproperties=st.fp(size, weight), parse_math=False, usetex=False, **kw)
    return t


def _pct(x: float | None, digits: int = 2, plus: bool = True) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    s = f"{x * 100:+.{digits}f}%" if plus else f"{x * 100:.{digits}f}%"
    return s.replace("-", "−")


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    if x is None or not np.isfinite(x):
        return "—"
    return fmt.format(x).replace("-", "−")


