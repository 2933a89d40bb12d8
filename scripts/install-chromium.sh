#!/bin/sh
# Install Debian's chromium for the dashboard's headless browser test (Playwright drives it with
# executable_path=/usr/bin/chromium; `playwright install` is never used). Idempotent: exits 0 at
# once when the browser is there. Needs root (CI runs as root) and apt.
# OMS_CHROMIUM overrides /usr/bin/chromium (for testing this script).
set -eu

CHROMIUM="${OMS_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "chromium present: $CHROMIUM"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium.sh: chromium is missing and installing it needs root; run: sudo $0" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium.sh: no apt-get here; install chromium with your package manager (the test looks for $CHROMIUM)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium.sh: chromium installed but $CHROMIUM is missing" >&2
    exit 1
fi
