#!/usr/bin/env bash
# Installs the PyTorch peer of `pnpm bench --peers torch`: Debian's
# python3-torch (1.13, with the reference BLAS it depends on) through apt,
# and Debian's OpenMP OpenBLAS unpacked (not installed) under
# packages/bench/.openblas, so that the bench can put it on LD_LIBRARY_PATH
# for one torch process while the system keeps its reference BLAS.
# Idempotent; needs root for apt (exits 1 with one line otherwise).
# Usage: packages/bench/scripts/install-torch.sh
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
OPENBLAS_DIR="$here/.openblas"
log() { echo "install-torch: $*"; }

if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  log "python3-torch already installed ($(/usr/bin/python3 -c 'import torch; print(torch.__version__)'))"
else
  if [ "$(id -u)" != 0 ]; then
    log "error: python3-torch is not installed and installing it with apt needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
  log "installed python3-torch ($(/usr/bin/python3 -c 'import torch; print(torch.__version__)'))"
fi

lib=$(find "$OPENBLAS_DIR" -name 'libblas.so.3' -path '*openblas-openmp*' 2>/dev/null | head -n 1 || true)
if [ -n "$lib" ]; then
  log "OpenBLAS already unpacked ($(dirname "$lib"))"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt-get download drops to the _apt user
(cd "$tmp" && apt-get download -qq libopenblas0-openmp >/dev/null)
mkdir -p "$OPENBLAS_DIR"
dpkg-deb -x "$tmp"/libopenblas0-openmp_*.deb "$OPENBLAS_DIR"
lib=$(find "$OPENBLAS_DIR" -name 'libblas.so.3' -path '*openblas-openmp*' | head -n 1)
if [ -z "$lib" ]; then
  log "error: libopenblas0-openmp unpacked into $OPENBLAS_DIR but has no libblas.so.3" >&2
  exit 1
fi
log "unpacked OpenBLAS into $(dirname "$lib")"
