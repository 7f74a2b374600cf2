#!/usr/bin/env bash
# Installs Mesa's lavapipe (a software Vulkan device) from Debian
# bookworm-backports, so that Dawn (the `webgpu` npm package) finds a WebGPU
# adapter on a machine without a GPU and @normlab/gpu runs its real webgpu
# mode. bookworm's own mesa-vulkan-drivers (22.x) is refused by Dawn; the
# backports build (25.x) works.
#
# The backports suite is added by editing the existing apt sources file (its
# `Suites: bookworm bookworm-updates` line), so no host name is written here.
# Idempotent and quiet; skips with a message (exit 0) when not root or not on
# Debian bookworm. Usage: packages/gpu/scripts/install-lavapipe.sh
set -euo pipefail

SOURCES=/etc/apt/sources.list.d/debian.sources
ICD_GLOB='/usr/share/vulkan/icd.d/lvp_icd*.json'

log() { echo "install-lavapipe: $*"; }

installed_version() {
  dpkg-query -W -f='${Status} ${Version}\n' mesa-vulkan-drivers 2>/dev/null | awk '$3 == "installed" { print $4 }'
}

# Already there: a lavapipe ICD from a Mesa new enough for Dawn (>= 23).
have=$(installed_version || true)
if [ -n "$have" ] && compgen -G "$ICD_GLOB" >/dev/null && [ "${have%%.*}" -ge 23 ] 2>/dev/null; then
  log "lavapipe already installed (mesa-vulkan-drivers $have)"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  log "skipped: must run as root to install mesa-vulkan-drivers from bookworm-backports (webgpu tests will be skipped without it)"
  exit 0
fi
if [ ! -f "$SOURCES" ] || ! grep -q '^Suites:.*\bbookworm\b' "$SOURCES"; then
  log "skipped: $SOURCES has no bookworm suite (not Debian bookworm); install Mesa >= 23 lavapipe (mesa-vulkan-drivers) by other means"
  exit 0
fi

# Append bookworm-backports to the Suites line that lists bookworm and bookworm-updates.
if ! grep -q '^Suites:.*bookworm-backports' "$SOURCES"; then
  sed -i '/^Suites:.*\bbookworm\b.*\bbookworm-updates\b/ { /bookworm-backports/! s/$/ bookworm-backports/ }' "$SOURCES"
  if ! grep -q '^Suites:.*bookworm-backports' "$SOURCES"; then
    log "error: could not add bookworm-backports to the Suites line of $SOURCES" >&2
    exit 1
  fi
  log "added bookworm-backports to $SOURCES"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
have=$(installed_version || true)
if ! compgen -G "$ICD_GLOB" >/dev/null; then
  log "error: mesa-vulkan-drivers $have is installed but no lavapipe ICD ($ICD_GLOB) was found" >&2
  exit 1
fi
log "installed lavapipe (mesa-vulkan-drivers $have)"
