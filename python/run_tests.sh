#!/usr/bin/env bash
# The Python side's unittest suite under one interpreter: bash python/run_tests.sh /usr/bin/python3
# (test/python.test.ts runs it for torch 1.13 and for the project's venv with torch 2.x).
set -euo pipefail
PYTHON="${1:-${PYTHON:-python3}}"
cd "$(dirname "${BASH_SOURCE[0]}")"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec "$PYTHON" -m unittest discover -s tests -t . "${@:2}"
