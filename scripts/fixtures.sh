#!/usr/bin/env bash
# Makes the tiny ONNX fixture models the inference tests use, into target/fixtures, with a
# Python venv (.venv, git-ignored) holding pinned `onnx` and `numpy`, and schemathesis (the API
# fuzzing test); installs the tools of the JavaScript-side tests (crates/server/tests/js, pinned by its
# package-lock.json), and a real Triton Inference Server for the Triton tests
# (scripts/fetch-triton.sh). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/fixtures
script=crates/inference/fixtures/make_fixtures.py
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnx, numpy" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check onnx==1.20.1 numpy==2.3.5
fi
if ! .venv/bin/schemathesis --version 2>/dev/null | grep -q "4.32.5"; then
  .venv/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
if [ ! -f "$out/.stamp" ] || [ "$script" -nt "$out/.stamp" ]; then
  .venv/bin/python "$script" "$out"
  touch "$out/.stamp"
fi

# shellcheck source=scripts/npm.sh
. scripts/npm.sh
npm_ci crates/server/tests/js

scripts/fetch-triton.sh
