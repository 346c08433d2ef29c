#!/usr/bin/env bash
# Provision a real GIMP 3 for the tests in tests/gimp/ (idempotent; a rerun takes a second or two).
#
# Debian 13 (trixie) hosts: GIMP 3 comes from apt directly; the tests then use the host's
# gimp-console-3.0 (the chroot path below is simply a symlink to "/").
# Debian 12 (bookworm) hosts ship only GIMP 2.10, so we build a trixie chroot with debootstrap under
# ${MMREALSR_CACHE:-/root/.cache/mmrealsr-ci}/gimp-chroot, outside the checkout, and install GIMP 3
# there. The host's root filesystem is never touched except for installing debootstrap itself.
# Exports nothing: tests/gimp/ finds the chroot at that fixed path.
set -euo pipefail

CACHE="${MMREALSR_CACHE:-/root/.cache/mmrealsr-ci}"
ROOT="$CACHE/gimp-chroot"
STAMP="$ROOT/.mmrealsr-gimp-ready"
PACKAGES="gimp gir1.2-gimp-3.0 python3 python3-gi python3-numpy xvfb xdotool x11-apps imagemagick"
MIRROR="${MMREALSR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

mkdir -p "$CACHE"

if [ -f "$STAMP" ]; then
    echo "setup-gimp: GIMP 3 ready at $ROOT"
    exit 0
fi

if grep -q '^13' /etc/debian_version 2>/dev/null; then
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null
    ln -sfn / "$ROOT"
    echo "setup-gimp: GIMP 3 installed on the host (Debian 13)"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

if grep -qF " $ROOT/" /proc/mounts; then
    echo "setup-gimp: something is still mounted under $ROOT (an interrupted run?): unmount it first" >&2
    grep -F " $ROOT/" /proc/mounts >&2
    exit 1
fi

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase trixie "$ROOT.partial" "$MIRROR" >"$CACHE/gimp-debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/gimp-debootstrap.log"; exit 1; }
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
fi

MOUNTED=()
cleanup() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
for fs in proc sys dev; do
    mkdir -p "$ROOT/$fs"
    if ! mountpoint -q "$ROOT/$fs"; then
        mount --bind "/$fs" "$ROOT/$fs"
        MOUNTED+=("$ROOT/$fs")
    fi
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PACKAGES && apt-get clean" \
    >"$CACHE/gimp-apt.log" 2>&1 || { tail -20 "$CACHE/gimp-apt.log"; exit 1; }

chroot "$ROOT" /usr/bin/gimp-console-3.0 --version
touch "$STAMP"
echo "setup-gimp: GIMP 3 ready at $ROOT"
