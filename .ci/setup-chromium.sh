#!/usr/bin/env bash
# Install Chromium for tests/comfyui/test_frontend.py (the node pack in ComfyUI's real frontend). Idempotent;
# a rerun takes a moment.
#
# Playwright (the test venv's [test] extra) drives it. Playwright's own browser download is not used (these machines
# reach package registries by name only), so the browser is the distribution's: the `chromium` package of Debian.
# Where it cannot be installed (no apt-get, not root, the package fails), the reason is written to
# $MMREALSR_CACHE/chromium-unavailable.txt and that test skips quoting it; this script never stops the other tests.
set -euo pipefail

CACHE="${MMREALSR_CACHE:-/root/.cache/mmrealsr-ci}"
REASON="$CACHE/chromium-unavailable.txt"
mkdir -p "$CACHE"

installed() { command -v chromium || command -v chromium-browser; }
unavailable() {
    echo "$1" > "$REASON"
    echo "setup-chromium: $1; tests/comfyui/test_frontend.py will skip" >&2
    exit 0
}
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }

if ! installed >/dev/null; then
    command -v apt-get >/dev/null || unavailable "no apt-get here: install Chromium with this system's package manager"
    [ "$(id -u)" = 0 ] || unavailable "not root, so apt-get cannot install it: run sudo apt-get install chromium"
    if ! apt_install; then
        apt-get update -q >/dev/null 2>&1 || true
        apt_install || unavailable "apt-get install chromium failed (no such package or no mirror reachable)"
    fi
fi
rm -f "$REASON"
echo "setup-chromium: $("$(installed)" --version 2>/dev/null | head -1) at $(installed)"
