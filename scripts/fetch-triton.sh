#!/usr/bin/env bash
# Puts a real NVIDIA Triton Inference Server in .triton (git-ignored) for the Triton tests and
# benchmarks: PyPI's `nvidia-pytriton` wheel bundles the `tritonserver` binary (2.51) with the
# python backend only, so a venv made from Debian's own Python (the backend stub embeds
# Debian's libpython 3.11; ../shared/FACTS.md) holds it beside `onnxruntime` and `numpy` for
# the python-backend model that `pigweight triton-repo --backend python` writes (and
# NVIDIA's `tritonclient`, which nvidia-pytriton brings: the tests parse configs with its
# model_config_pb2, the benchmark compares HTTP with gRPC through it).
# Idempotent: does nothing when the server is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.triton/venv
PYTRITON=0.7.0
ONNXRUNTIME=1.31.1   # the same ONNX Runtime as the in-process library (scripts/fetch-ort.sh)
backends=.triton/backends
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pytriton, tritonclient.grpc, onnxruntime, numpy" 2>/dev/null \
  && [ -x "$backends/python/triton_python_backend_stub" ]; then
  exit 0
fi
echo "fetch-triton: installing nvidia-pytriton $PYTRITON and onnxruntime $ONNXRUNTIME into $venv"
if ! "$venv/bin/python" -c "import pytriton, tritonclient.grpc, onnxruntime, numpy" 2>/dev/null; then
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "nvidia-pytriton==$PYTRITON" "onnxruntime==$ONNXRUNTIME" "numpy==1.26.4"
fi
# The backend folder the server is given: the python backend with the stub for Debian's 3.11.
server=$("$venv/bin/python" -c "import pytriton, os; print(os.path.dirname(pytriton.__file__) + '/tritonserver')")
rm -rf "$backends" && mkdir -p "$backends/python"
cp "$server/backends/python/libtriton_python.so" "$server/backends/python/triton_python_backend_utils.py" \
  "$server/python_backend_stubs/3.11/triton_python_backend_stub" "$backends/python/"
echo "fetch-triton: $server/bin/tritonserver (scripts/tritonserver.sh starts it)"
