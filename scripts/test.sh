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
python3 -m pytest -q --tier fast "$@"
echo "== import layers" >&2
lint-imports
echo "== slow tier" >&2
python3 -m pytest -q --tier slow "$@"
