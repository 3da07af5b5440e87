#!/usr/bin/env bash
# Debian packages the tests need: chromium (webview and end-to-end tests), python3-torch (the
# gradient reference, the speed peer and the PyTorch trainer on torch 1.13), python3-venv (the
# project's torch 2.x venv), libkrb5-dev (code-server's native addons build against it).
# Skipped where they are already installed; installs with apt-get as root or through sudo, and
# otherwise says what is missing and how to get it.
set -euo pipefail
pkgs=(chromium python3-torch python3-venv libkrb5-dev)
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: this is not a Debian/Ubuntu system (no dpkg/apt-get). The tests need: Chromium at /usr/bin/chromium, PyTorch for /usr/bin/python3, Python's venv module, and the Kerberos headers (libkrb5-dev) for code-server; install their equivalents, then run npm test again." >&2
  exit 1
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "system packages present: ${pkgs[*]}"; exit 0; }
echo "setup-system: installing ${missing[*]} with apt-get"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "setup-system: missing Debian packages: ${missing[*]}. Install them as root: sudo apt-get install -y ${missing[*]} — then run npm test again." >&2
    exit 1
  fi
fi
if ! "${SUDO[@]}" apt-get update -q || ! DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "setup-system: apt-get could not install ${missing[*]} (see its message above). Install them by hand: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
