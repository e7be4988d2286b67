#!/usr/bin/env bash
# Install qbrecon with its test dependencies (and Debian's Chromium for browser tests), then run the fast tier,
# the import-layer contract and the slow tier (docs/adr/0010-test-tiers.md). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  fi
fi
echo "== fast tier" >&2
# one worker per core (pytest-xdist): the unit tests share no ports or files (servers bind port 0, files in tmp_path)
python3 -m pytest -q --tier fast -n auto "$@"
echo "== import layers" >&2
lint-imports
echo "== slow tier" >&2
python3 -m pytest -q --tier slow "$@"
