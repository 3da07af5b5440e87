#!/usr/bin/env bash
# The project's own Python venv for the tests: torch 2.x (CPU) beside Debian's torch 1.13 in
# /usr/bin/python3, so the Python package is tested on both; and Keras 3 with h5py, which the
# Keras .py tests export models with (KERAS_BACKEND=numpy; Keras 3.15's numpy backend imports
# jax, so jax and jaxlib come too — a fresh venv without them failed every Keras .py test in the
# clean-clone CI run; the real-Keras .keras/.h5 fixtures are committed). keras and h5py add about
# 75 s to a set-up from an empty pip cache on these machines, jax and jaxlib 7 s. Kept inside the checkout
# (.cache/venv, git-ignored) unless GRADIENT_LENS_VENV names another folder; idempotent: a venv
# holding every requirement is reused. Prints the venv's python on the last line of stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GRADIENT_LENS_VENV:-$root/.cache/venv}"
requirements=(torch numpy keras h5py jax jaxlib)
python="${GRADIENT_LENS_VENV_PYTHON:-python3}"
mark="$venv/.gradient-lens-requirements"

if [ -x "$venv/bin/python" ] && [ -f "$mark" ] && [ "$(cat "$mark")" = "${requirements[*]}" ]; then
  echo "$venv/bin/python"
  exit 0
fi
if ! "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
  echo "setup-python: $python is not a Python ≥ 3.9 with venv and ensurepip; install python3-venv (apt-get) or set GRADIENT_LENS_VENV_PYTHON" >&2
  exit 1
fi
rm -rf "$venv"
"$python" -m venv "$venv"
# --retries 0: where an index is unreachable (an offline machine with local wheel indexes), pip
# moves on to the next index at once instead of retrying it for minutes.
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries 0 --timeout 20 "${requirements[@]}" >&2; then
  echo "setup-python: pip could not install ${requirements[*]} into $venv (see pip's message above)" >&2
  exit 1
fi
echo "${requirements[*]}" > "$mark"
echo "$venv/bin/python"
