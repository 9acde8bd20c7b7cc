#!/usr/bin/env bash
# Installs the Debian -dev libraries kbd-sim links (zlib, OpenBLAS, SQLite), only if missing.
# Idempotent: a second run installs nothing and takes a fraction of a second.
set -euo pipefail
packages=(zlib1g-dev libopenblas-dev libsqlite3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
