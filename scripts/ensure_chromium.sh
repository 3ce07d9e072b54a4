#!/usr/bin/env bash
# Make sure headless Chromium (Debian's package) is there for the browser tests and the MLflow UI screenshot.
# Installs it with apt-get when it is missing and this runs as root; otherwise says what to do and exits 0
# (the browser tests then skip with a reason).
set -euo pipefail
for exe in "${AFX_CHROMIUM:-}" /usr/bin/chromium chromium chromium-browser; do
  if [[ -n "$exe" ]] && command -v "$exe" >/dev/null 2>&1; then
    echo "ensure_chromium: $("$exe" --version 2>/dev/null || echo "$exe") is installed"
    exit 0
  fi
done
if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure_chromium: chromium is not installed and this is not root; as root run: apt-get install -y chromium"
  echo "ensure_chromium: (browser tests will be skipped)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get here; install Chromium and set AFX_CHROMIUM=/path/to/chromium"
  exit 0
fi
echo "ensure_chromium: installing Debian's chromium (apt-get install -y chromium)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "ensure_chromium: $(/usr/bin/chromium --version) installed"
