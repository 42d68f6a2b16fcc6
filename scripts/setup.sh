#!/usr/bin/env bash
# One-time set-up on a fresh machine: a CJK font for the plots, a virtualenv, the package.
# Idempotent: safe to run again. Used by `make demo`, `make test` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if ! fc-list 2>/dev/null | grep -qiE "Noto (Sans|Serif) CJK|WenQuanYi|Source Han"; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "setup: installing fonts-noto-cjk (Chinese text in plots)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null
  else
    echo "setup: no CJK font and no way to install one; plots will use ASCII fallback labels" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
echo "setup: installing the Python packages into $VENV (about a minute the first time; quiet after that)"
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import anomaly, akshare, duckdb, exchange_calendars, matplotlib" \
  || { echo "setup: the package did not install" >&2; exit 1; }
# Drop the (font) cache matplotlib built before the CJK font existed.
rm -rf "${MPLCONFIGDIR:-$HOME/.cache/matplotlib}"/fontlist-*.json 2>/dev/null || true
echo "setup: ready ($VENV)"
