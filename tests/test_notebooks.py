"""The notebooks in ``notebooks/`` run top to bottom, headless, on the bundled sample (no network).

* ``test_notebook_runs[...]`` executes each jupytext py:percent notebook in a fresh ``python3`` kernel
  of this interpreter (nbclient); any failing cell fails the test with its traceback. It also checks
  that real results came out, that nothing was drawn with missing glyphs (matplotlib warns "Glyph …
  missing from font(s)" when a character would be a tofu box), and that everything the notebook wrote
  went to the temporary folder.
* ``test_public_api_only[...]`` parses every code cell: notebooks may import ``anomaly`` and names it
  exports (``anomaly.__all__``), pandas, numpy, matplotlib and the standard library — never an
  ``anomaly.<submodule>``; every ``an.<name>`` they use must be a public export.
"""
from __future__ import annotations

import ast
import re
import sys
import time
from pathlib import Path

import pytest

import anomaly

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
EXPECTED = {"01_iflytek_2023-05-24.py", "02_scan_universe_and_store.py"}

ALLOWED_THIRD_PARTY = {"anomaly", "pandas", "numpy", "matplotlib"}
PUBLIC = set(anomaly.__all__) | {"__version__"}
# HTTP(S) clients honour these; a dead local port makes any accidental network call fail at once.
DEAD_PROXY = "http://127.0.0.1:9"


def _ids(paths):
    return [p.name for p in paths]


def test_the_notebooks_are_there():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}
    assert (NOTEBOOK_DIR / "README.md").is_file()


# --- the public-API rule -----------------------------------------------------------------------------


def _code_cells(path: Path) -> list[str]:
    import jupytext

    nb = jupytext.read(path)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _strip_magics(source: str) -> str:
    # IPython magics / shell escapes are not Python; blank them so line numbers stay right.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def api_violations(source: str) -> list[str]:
    """What in ``source`` (Python code) breaks the notebooks' import rule; empty when it is clean."""
    tree = ast.parse(_strip_magics(source))
    bad: list[str] = []
    aliases: set[str] = set()
    stdlib = set(sys.stdlib_module_names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if a.name.startswith("anomaly."):
                    bad.append(f"line {node.lineno}: import {a.name} (an anomaly submodule; use `import anomaly as an`)")
                elif top == "anomaly":
                    aliases.add(a.asname or "anomaly")
                elif top not in ALLOWED_THIRD_PARTY and top not in stdlib:
                    bad.append(f"line {node.lineno}: import {a.name} (not pandas/numpy/matplotlib/stdlib)")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            top = mod.split(".")[0]
            if node.level:
                bad.append(f"line {node.lineno}: relative import")
            elif mod.startswith("anomaly."):
                bad.append(f"line {node.lineno}: from {mod} import … (an anomaly submodule)")
            elif mod == "anomaly":
                for a in node.names:
                    if a.name not in PUBLIC:
                        bad.append(f"line {node.lineno}: from anomaly import {a.name} (not in anomaly.__all__)")
            elif top not in ALLOWED_THIRD_PARTY and top not in stdlib:
                bad.append(f"line {node.lineno}: from {mod} import … (not pandas/numpy/matplotlib/stdlib)")
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and str(node.args[0].value).startswith("anomaly"):
                bad.append(f"line {node.lineno}: {name}({node.args[0].value!r})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr not in PUBLIC:
                bad.append(f"line {node.lineno}: {node.value.id}.{node.attr} is not a public export of anomaly")
    return bad


@pytest.mark.parametrize("source, clean", [
    ("import anomaly as an\nan.load_bars", True),
    ("from anomaly import resolve, Store", True),
    ("import pandas as pd, numpy as np\nfrom matplotlib.font_manager import FontProperties\nimport json", True),
    ("%matplotlib inline\nimport anomaly as an", True),
    ("from anomaly.fetch import load_bars", False),
    ("import anomaly.pipeline", False),
    ("import anomaly.sources.sample as s", False),
    ("from anomaly import fonts", False),
    ("import anomaly as an\nan.pipeline.detect_range", False),
    ("import importlib\nimportlib.import_module('anomaly.plot')", False),
    ("import requests", False),
])
def test_the_import_rule_itself(source, clean):
    assert (api_violations(source) == []) is clean, api_violations(source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_public_api_only(path):
    problems = []
    for k, src in enumerate(_code_cells(path)):
        problems += [f"code cell {k}: {p}" for p in api_violations(src)]
    assert not problems, f"{path.name} must use only the public API:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_is_a_jupytext_percent_notebook(path):
    import jupytext

    text = path.read_text(encoding="utf-8")
    assert "format_name: percent" in text and "# %% [markdown]" in text
    nb = jupytext.read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 5 and kinds.count("code") >= 5
    assert kinds[0] == "markdown"  # opens with its story, not with code
    # Opening and saving it in Jupyter (jupytext) gives the same file back: no churn in reviews.
    def body(s):
        return re.sub(r"(?m)^#\s+jupytext_version: .*\n", "", s)
    assert body(jupytext.writes(nb, "py:percent")) == body(text)


# --- execution -----------------------------------------------------------------------------------------


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def _all_text(nb) -> str:
    parts = []
    for o in _outputs(nb):
        if "text" in o:
            parts.append(o["text"])
        for mime in ("text/plain", "text/html"):
            if mime in o.get("data", {}):
                parts.append(o["data"][mime])
    return "\n".join(parts)


def _pngs(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}


def _has_cjk_font() -> bool:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return any(n in names for n in ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
                                    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC"))


def execute(path: Path, tmp_path: Path, monkeypatch):
    """Run a notebook in a fresh kernel of this interpreter; returns (executed notebook, seconds)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    # Which Python runs the kernel: it must be this environment's, with this checkout of anomaly.
    nb.cells.append(nbformat.v4.new_code_cell(
        "import sys, anomaly\nprint('KERNEL', sys.prefix, anomaly.__file__)"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path))           # the notebooks' tempfile.mkdtemp() lands here
    monkeypatch.delenv("MPLBACKEND", raising=False)      # a headless CI's Agg would hide inline figures
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    t0 = time.perf_counter()
    client.execute()   # raises CellExecutionError (with the cell's traceback) when a cell fails
    return nb, time.perf_counter() - t0


def _check_common(nb, before_notebooks: set[str]) -> str:
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    text = _all_text(nb)
    kernel = re.search(r"KERNEL (\S+) (\S+)", text)
    assert kernel, "the kernel did not report itself"
    assert Path(kernel.group(1)).resolve() == Path(sys.prefix).resolve(), \
        f"the notebook ran in {kernel.group(1)}, not in this environment ({sys.prefix})"
    assert Path(kernel.group(2)).resolve() == Path(anomaly.__file__).resolve()
    # Tofu boxes: matplotlib warns "Glyph N (…) missing from font(s) …" for every character it cannot draw.
    assert "missing from font" not in text, "a figure drew characters its font lacks (tofu boxes)"
    if _has_cjk_font():
        assert "CJK font: none found" not in text
    # Everything went to the temporary folder (the kernel's working folder is one too): nothing new
    # next to the notebooks.
    assert _files(NOTEBOOK_DIR) == before_notebooks
    return text


@pytest.mark.slow
def test_notebook_01_iflytek_case_study(tmp_path, monkeypatch):
    path = NOTEBOOK_DIR / "01_iflytek_2023-05-24.py"
    before = _files(NOTEBOOK_DIR)
    nb, seconds = execute(path, tmp_path, monkeypatch)
    text = _check_common(nb, before)
    print(f"{path.name}: {seconds:.1f} s")
    assert "news_linked" in text
    assert "-9.46" in text or "−9.46" in text           # the low against the previous close
    assert "-4.26" in text or "−4.26" in text           # the close
    assert "range_crash" in text
    assert "小作文" in text                               # the rumor is among the linked news
    assert "link_symbol_day gives the same verdict and links: True" in text
    assert _pngs(nb) >= 2                                 # the close-vs-low figure and the event plot
    saved = list(tmp_path.glob("anomaly-nb01-*/002230_2023-05-24.png"))
    assert saved and saved[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_notebook_02_scan_and_store(tmp_path, monkeypatch):
    path = NOTEBOOK_DIR / "02_scan_universe_and_store.py"
    before = _files(NOTEBOOK_DIR)
    nb, seconds = execute(path, tmp_path, monkeypatch)
    text = _check_common(nb, before)
    print(f"{path.name}: {seconds:.1f} s")
    assert "292 symbols" in text
    assert "2024-09-30" in text and "2024-02-05" in text   # the market-wide days of the cross-section
    # The store was filled by the backfill scan and queried: the verdict table and the news-linked event.
    frames = [o["data"]["text/html"] for o in _outputs(nb)
              if o.get("output_type") == "execute_result" and "text/html" in o.get("data", {})]
    assert any("verdict" in h and "<table" in h for h in frames), "no DataFrame of stored events was shown"
    assert "news_linked" in text and "002230" in text
    assert "nothing fetched" in text                        # the akshare cell stayed offline
    stores = list(tmp_path.glob("anomaly-nb02-*/store"))
    assert stores and (stores[0] / "results" / "2023-05-24" / "events.parquet").is_file()
    assert (stores[0].parent / "reports" / "2024-09-30" / "report.html").is_file()
    assert _pngs(nb) >= 2                                   # anomalies per day and the stored event's plot
