"""Config files: TOML data only. Every mistake is one line naming the file and the dotted key (exit 2);
nothing in a config is ever executed."""
from __future__ import annotations

import pytest

import rt_support as rt

M = "MARKER"  # a file that would appear if any config value were executed


# name: (TOML text | bytes, exact error with {p} | list of fragments)
BAD = {
    "not TOML": ("store = \n", "error: config file {p} is not valid TOML: Invalid value (at line 1, column 9)"),
    "unknown top key": ("foo = 1\n",
                        "error: {p}: unknown key 'foo' (known here: detect, link, scan, source, store, universe)"),
    "unknown nested key": ("[scan]\nfoo = 1\n", "error: {p}: unknown key 'scan.foo' (known here: engine, fetch_news, "
                                                "freq, max_plots, out, plots, scheduler, workers)"),
    "bool as string": ("[scan]\nplots = \"yes\"\n", "error: {p}: scan.plots: expected true or false, got 'yes'"),
    "float for int": ("[scan]\nmax_plots = 1.5\n", "error: {p}: scan.max_plots: expected a whole number, got 1.5"),
    "zero workers": ("[scan]\nworkers = 0\n", "error: {p}: source.retries must be ≥ 0 and scan.workers ≥ 1"),
    "unknown universe": ("[universe]\nname = \"everything\"\n",
                         "error: {p}: universe.name: expected watchlist, sample or all, got 'everything'"),
    "watchlist not a list": ("[universe]\nwatchlist = \"002230\"\n",
                             "error: {p}: universe.watchlist: expected a list of strings, got '002230'"),
    "unknown symbol in watchlist": ("[universe]\nname = \"watchlist\"\nwatchlist = [\"002230\", \"999999\"]\n",
                                    ["{p}", "universe.watchlist", "999999"]),
    "empty watchlist": ("[universe]\nname = \"watchlist\"\nwatchlist = []\n", ["{p}", "universe.watchlist", "empty"]),
    "unknown detector": ("[detect]\ndaily = [\"range\", \"nope\"]\n",
                         "error: {p}: detect.daily: unknown detector 'nope' (known: abnormal_return, cliff, deviation, "
                         "lee_mykland, lhb, limits, range, vol_surprise, volume_surge)"),
    "detector params not a table": ("[detect.params]\nrange = 5\n",
                                    "error: {p}: detect.params.range: expected a table of parameters"),
    "detector parameter of wrong type": ("[detect.params.range]\nz_threshold = \"high\"\n",
                                         ["{p}", "detect.params.range.z_threshold", "expected a number"]),
    "unknown detector parameter": ("[detect.params.range]\nbogus = 1\n", ["{p}", "detect.params.range.bogus"]),
    "link.news not bool": ("[link]\nnews = \"no\"\n", "error: {p}: link.news: expected true or false"),
    "benchmark key malformed": ("[detect.benchmarks]\nfoo = \"399001.SZ\"\n",
                                "error: {p}: detect.benchmarks.foo: expected \"EXCHANGE.board\" = \"index id\""),
    "benchmark not an index": ("[detect.benchmarks]\n\"SZ.main\" = \"../../etc\"\n",
                               ["{p}", "detect.benchmarks.SZ.main", "../../etc"]),
    "unknown source": ("[source]\ndefault = \"ftp\"\n",
                       "error: {p}: source.default: unknown source 'ftp' (use sample, store, akshare, baostock, "
                       "synthetic[:SEED] or csv:PATH)"),
    "negative timeout": ("[source]\ntimeout = -1\n", "error: {p}: source.timeout: must not be negative"),
    "NaN timeout": ("[source]\ntimeout = nan\n", ["{p}", "source.timeout"]),
    "infinite timeout": ("[source]\ntimeout = inf\n", ["{p}", "source.timeout"]),
    "absurd retries": ("[source]\nretries = 9223372036854775807\n", ["{p}", "source.retries"]),
    "GBK-encoded file": ("# 注释\n[universe]\nwatchlist = [\"科大讯飞\"]\n".encode("gbk"),
                         "error: config file {p} is not UTF-8 text"),
    "NUL in scan.out": ("[scan]\nout = \"a\\u0000b\"\n", ["{p}", "scan.out"]),
    "NUL in store": ("store = \"a\\u0000b\"\n", ["{p}", "store"]),
    # code-looking content is data: it fails as data, and nothing runs
    "a Python file": (f"import os\nos.system('touch {M}')\n",
                      "error: config file {p} is not valid TOML: Expected '=' after a key in a key/value pair "
                      "(at line 1, column 8)"),
    "a YAML python tag": (f"!!python/object/apply:os.system ['touch {M}']\n",
                          "error: config file {p} is not valid TOML: Invalid statement (at line 1, column 1)"),
    "__import__ in watchlist": (f"[universe]\nwatchlist = [\"__import__('os').system('touch {M}')\"]\n",
                                ["unknown symbol", "__import__"]),
    "__import__ as detector parameter": (f"[detect.params.range]\nmin_move = \"__import__('os').system('touch {M}')\"\n",
                                         ["{p}", "detect.params.range.min_move"]),
    "shell in csv source path": (f"[source]\ndefault = \"csv:$(touch {M})\"\n", ["csv source", "does not exist"]),
}


def scan_with(cli, tmp_path, cfg_path, out=True, store=True):
    return cli(["scan", "--config", cfg_path, "--date", rt.DATE, "--no-plots",
                *(["--out", tmp_path / "out"] if out else []), *(["--store", tmp_path / "store"] if store else [])])


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_one_line_exit_2_nothing_executed(case, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, want = BAD[case]
    p = tmp_path / "bad.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    r = scan_with(cli, tmp_path, p, out=case != "NUL in scan.out", store=case != "NUL in store")
    assert not (tmp_path / M).exists()
    line = rt.the_error_line(r.err)
    assert r.code == 2
    if isinstance(want, str):
        assert line == want.format(p=p)
    else:
        for frag in want:
            assert frag.format(p=p) in line, line
    assert not (tmp_path / "out" / rt.DATE).exists()


def test_config_with_bom_is_read(cli, tmp_path):
    """Windows editors save UTF-8 with a byte-order mark: read it (or say exactly that)."""
    p = tmp_path / "bom.toml"
    p.write_bytes("\ufeff[universe]\nwatchlist = [\"002230\"]\n".encode("utf-8"))
    r = scan_with(cli, tmp_path, p)
    assert r.code == 0, r.err
    assert (tmp_path / "out" / rt.DATE / "events.json").is_file()


@pytest.mark.parametrize("key,value", [("store", f"$(touch {M})"), ("scan.out", f"`touch {M}`"),
                                       ("scan.scheduler", f"tcp://$(touch {M}):8786")])
def test_shell_looking_values_are_literal(key, value, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table, _, name = key.rpartition(".")
    p = tmp_path / "c.toml"
    body = f'{name} = "{value}"\n'
    p.write_text((f"[{table}]\n" + body) if table else body, encoding="utf-8")
    r = cli(["scan", "--config", p, "--date", rt.DATE, "--no-plots"])
    assert r.code == 0, r.err
    assert not (tmp_path / M).exists()
    literal = tmp_path / value if key in ("store", "scan.out") else None
    if key == "store":
        assert (literal / "store.json").is_file()
    if key == "scan.out":
        assert (literal / rt.DATE / "events.json").is_file()


def test_relative_store_path_with_dotdot_does_not_crash(cli, tmp_path, monkeypatch):
    """``store = "../../x"`` is the user's own choice: allowed. It lands at exactly one place."""
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    cfg_dir = tmp_path / "cfg" / "deep" / "deeper"
    cfg_dir.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    p = cfg_dir / "c.toml"
    p.write_text('store = "../../x"\n', encoding="utf-8")
    r = cli(["scan", "--config", p, "--date", rt.DATE, "--no-plots", "--out", tmp_path / "out"])
    assert r.code == 0, r.err
    cwd_relative = (cwd / "../../x").resolve()            # = tmp/x
    cfg_relative = (cfg_dir / "../../x").resolve()        # = tmp/cfg/x
    found = [c for c in (cwd_relative, cfg_relative) if (c / "store.json").is_file()]
    assert len(found) == 1, found
    assert not (tmp_path.parent / "x").exists()


def test_missing_and_folder_config(cli, tmp_path):
    r = cli(["scan", "--config", tmp_path / "nope.toml", "--date", rt.DATE])
    assert r.code == 2 and rt.the_error_line(r.err) == f"error: config file {tmp_path / 'nope.toml'} does not exist"
    d = tmp_path / "dir.toml"
    d.mkdir()
    r = cli(["scan", "--config", d, "--date", rt.DATE])
    assert r.code == 2
    assert rt.the_error_line(r.err) == (f"error: Invalid value for '--config': File '{d}' is a directory. "
                                        "(see: anomaly scan --help)")
