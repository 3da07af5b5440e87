#!/usr/bin/env bash
# Debian packages the tests need: chromium (webview and end-to-end tests), python3-torch (the
# gradient reference and the speed peer), libkrb5-dev (code-server's native addons build
# against it). Skipped where they are already installed; needs root or sudo otherwise.
set -euo pipefail
pkgs=(chromium python3-torch libkrb5-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "system packages present: ${pkgs[*]}"; exit 0; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
