#!/usr/bin/env bash
# Installs Debian's chromium (apt) for the test that opens a sweep's
# report.html headless. Idempotent; skips with a message (exit 0) when not
# root. Usage: packages/lab/scripts/install-chromium.sh
set -euo pipefail
if command -v chromium >/dev/null; then
  echo "install-chromium: $(chromium --version 2>/dev/null | head -1) already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: skipped: must run as root to apt-get install chromium (the report test will be skipped without it)"
  exit 0
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: $(chromium --version 2>/dev/null | head -1)"
