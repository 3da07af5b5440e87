#!/usr/bin/env bash
# `npm test`'s pre-step: everything the tests need beyond npm's packages, each step idempotent
# and each failure one message saying what is missing and how to get it.
#   1. Debian packages (scripts/setup-system.sh): Chromium, python3-torch, python3-venv, libkrb5-dev.
#   2. The project's Python venv with torch 2.x (scripts/setup-python.sh), beside Debian's torch 1.13.
#   3. code-server, a real VS Code for the end-to-end tests, and the Node 24 it needs
#      (scripts/e2e/install-code-server.sh, into GRADIENT_LENS_E2E_CACHE or ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== npm test set-up: %s ==\n' "$1"; }
step "Debian packages"
bash scripts/setup-system.sh
step "Python venv (torch 2.x)"
bash scripts/setup-python.sh
step "code-server for the end-to-end tests"
bash scripts/e2e/install-code-server.sh
