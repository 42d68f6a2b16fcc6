"""TOML configuration → typed frozen dataclasses; every error names the file and the dotted key."""
from __future__ import annotations

import dataclasses

import pytest

from anomaly.config import Config, ScanConfig, SourceConfig, UniverseConfig, load_config
from anomaly.errors import BadInput, ConfigError

# Detector lists are given explicitly ([] = none) so these tests do not depend on which detector
# modules are registered at the moment.
NO_DETECTORS = "[detect]\ndaily = []\nintraday = []\n"


def write(tmp_path, text: str, name: str = "c.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults():
    c = load_config(None)
    assert c == Config()
    assert c.source.default == "sample" and c.source.retries == 3 and c.scan.engine == "local"


def test_valid_file_builds_typed_objects(fixtures_dir):
    path = fixtures_dir / "valid.toml"
    c = load_config(path)
    assert isinstance(c, Config) and isinstance(c.source, SourceConfig) and isinstance(c.scan, ScanConfig)
    assert c.path == str(path)
    assert c.store == "my-store"
    assert c.source == SourceConfig(default="sample", timeout=5.0, retries=2, backoff=0.5, min_interval=0.25)
    assert isinstance(c.source.timeout, float) and isinstance(c.source.retries, int)
    assert c.universe == UniverseConfig(name="watchlist", watchlist=("002230", "300750"))
    assert isinstance(c.universe.watchlist, tuple)
    assert c.detect.daily == () and c.detect.intraday == ()
    assert c.detect.benchmarks == {"SZ.main": "399001.SZ"}
    assert c.link_news is False
    lc = c.link_config()  # the correlator's typed parameters
    assert lc.market_wide_share == 0.4 and lc.sector_wide_share == 0.5 and lc.precursor_days == 2
    assert (c.scan.out, c.scan.workers, c.scan.plots, c.scan.max_plots) == ("reports", 3, False, 10)
    assert c.scan.fetch_news is True  # unspecified keys keep their defaults


def test_config_is_frozen(fixtures_dir):
    c = load_config(fixtures_dir / "valid.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.scan.out = "elsewhere"  # type: ignore[misc]


def test_unknown_key_named(fixtures_dir):
    with pytest.raises(ConfigError) as ei:
        load_config(fixtures_dir / "unknown_key.toml")
    msg = str(ei.value)
    assert "scan.outt" in msg and "unknown_key.toml" in msg
    assert isinstance(ei.value, BadInput)


@pytest.mark.parametrize("text,key", [
    ('outt = "x"\n', "outt"),
    ('[source]\nretrys = 3\n', "source.retrys"),
    ('[universe]\nwatch_list = ["002230"]\n', "universe.watch_list"),
    ('[linking]\nnews = true\n', "linking"),
    ('[scan.extra]\na = 1\n', "scan.extra"),
])
def test_unknown_keys_named(tmp_path, text, key):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text))
    assert repr(key) in str(ei.value)


@pytest.mark.parametrize("text,key", [
    ('[link]\nmarket_wide = 0.3\n', "link.market_wide"),
    ('[link]\nnews = "no"\n', "link.news"),
])
def test_link_table_checked(tmp_path, text, key):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, NO_DETECTORS + text))
    assert key in str(ei.value), str(ei.value)


def test_wrong_type_named(fixtures_dir):
    with pytest.raises(ConfigError) as ei:
        load_config(fixtures_dir / "wrong_type.toml")
    msg = str(ei.value)
    assert "source.retries" in msg and "'3'" in msg and "wrong_type.toml" in msg


@pytest.mark.parametrize("text,key", [
    ('[source]\nretries = 2.5\n', "source.retries"),
    ('[source]\nretries = true\n', "source.retries"),
    ('[source]\ntimeout = "20"\n', "source.timeout"),
    ('[source]\ntimeout = false\n', "source.timeout"),
    ('[scan]\nplots = "yes"\n', "scan.plots"),
    ('[scan]\nworkers = "2"\n', "scan.workers"),
    ('[universe]\nwatchlist = "002230"\n', "universe.watchlist"),
    ('[universe]\nwatchlist = [2230]\n', "universe.watchlist"),
    ('store = 1\n', "store"),
    ('scan = 3\n', "scan"),
    ('[detect]\nparams = 3\n', "detect.params"),
])
def test_wrong_types_named(tmp_path, text, key):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text))  # type errors are found before any value check
    assert key in str(ei.value), str(ei.value)


@pytest.mark.parametrize("text,key", [
    ('[scan]\nengine = "spark"\n', "scan.engine"),
    ('[scan]\nfreq = "weekly"\n', "scan.freq"),
    ('[universe]\nname = "everything"\n', "universe.name"),
    ('[source]\ntimeout = -1\n', "source.timeout"),
    ('[source]\nmin_interval = -0.5\n', "source.min_interval"),
    ('[source]\nretries = -1\n', "source.retries"),
    ('[scan]\nworkers = 0\n', "scan.workers"),
    ('[detect.benchmarks]\nSZmain = "399001.SZ"\n', "detect.benchmarks.SZmain"),
])
def test_bad_values_named(tmp_path, text, key):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, NO_DETECTORS + text))
    assert key in str(ei.value), str(ei.value)


def test_unknown_detector_named(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, '[detect]\ndaily = ["no_such_detector"]\nintraday = []\n'))
    assert "detect.daily" in str(ei.value) and "no_such_detector" in str(ei.value)


def test_malformed_toml(fixtures_dir):
    with pytest.raises(ConfigError) as ei:
        load_config(fixtures_dir / "bad.toml")
    msg = str(ei.value)
    assert "bad.toml" in msg and "not valid TOML" in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_not_utf8(tmp_path):
    p = tmp_path / "gbk.toml"
    p.write_bytes('[universe]\nwatchlist = ["科大讯飞"]\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(p)


def test_config_is_data_only(tmp_path):
    # nothing in a config file is evaluated: a string that looks like code stays a string
    p = write(tmp_path, NO_DETECTORS + '[scan]\nout = "__import__(\'os\').system(\'false\')"\n')
    assert load_config(p).scan.out == "__import__('os').system('false')"


# --- through the CLI ----------------------------------------------------------------------------

def _one_line_exit_2(r):
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


@pytest.mark.parametrize("name,needle", [("bad.toml", "not valid TOML"), ("unknown_key.toml", "scan.outt"),
                                         ("wrong_type.toml", "source.retries")])
def test_bad_config_cli_writes_nothing(run_cli, fixtures_dir, tmp_path, name, needle):
    store = tmp_path / "st"
    for argv in (["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--config",
                  str(fixtures_dir / name), "--store", str(store)],
                 ["fetch", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--source", "sample",
                  "--config", str(fixtures_dir / name), "--store", str(store)]):
        r = run_cli(argv)
        _one_line_exit_2(r)
        assert needle in r.err and name in r.err
        assert not store.exists()


def test_bad_config_cli_leaves_existing_store_unchanged(run_cli, fixtures_dir, tmp_path, snapshot):
    store = tmp_path / "st"
    assert run_cli(["fetch", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--source", "sample",
                    "--store", str(store)]).code == 0
    snapshot.age(store)
    before = snapshot(store)
    r = run_cli(["fetch", "002230", "--start", "2023-01-01", "--end", "2023-06-30", "--source", "sample",
                 "--store", str(store), "--config", str(fixtures_dir / "bad.toml")])
    _one_line_exit_2(r)
    assert snapshot(store) == before


def test_config_store_key_is_used(run_cli, tmp_path):
    store = tmp_path / "from-config"
    cfg = write(tmp_path, f'store = "{store}"\n' + NO_DETECTORS)
    r = run_cli(["fetch", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--source", "sample",
                 "--config", str(cfg)])
    assert r.code == 0, r.err
    assert (store / "bars" / "daily" / "002230.parquet").is_file()


def test_config_source_default_is_used(run_cli, tmp_path):
    cfg = write(tmp_path, NO_DETECTORS + f'[source]\ndefault = "csv:{tmp_path / "missing.csv"}"\n')
    r = run_cli(["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--config", str(cfg)])
    assert r.code == 2 and "missing.csv" in r.err


def test_file_without_detect_section_uses_registered_defaults(tmp_path):
    c = load_config(write(tmp_path, '[scan]\nout = "x"\n'))
    from anomaly.detect import available

    assert c.detect.daily == Config().detect.daily
    assert set(c.detect.daily) | set(c.detect.intraday) <= set(available())
