#!/usr/bin/env bash
# Runs the Triton server that scripts/fetch-triton.sh installed, on loopback only:
#   scripts/tritonserver.sh REPOSITORY HTTP_PORT GRPC_PORT METRICS_PORT [tritonserver args...]
# It loads every model in REPOSITORY (e.g. from `pigweight triton-repo --backend python`) and
# stops on SIGTERM. The python backend's stub embeds Debian's libpython 3.11, so the venv made
# from /usr/bin/python3 comes first on PATH (../shared/FACTS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.triton/venv
[ $# -ge 4 ] || { echo "usage: $0 REPOSITORY HTTP_PORT GRPC_PORT METRICS_PORT [args...]" >&2; exit 2; }
repository=$1 http=$2 grpc=$3 metrics=$4
shift 4
site=$(echo "$venv"/lib/python3*/site-packages)
[ -x "$site/pytriton/tritonserver/bin/tritonserver" ] || { echo "$0: run scripts/fetch-triton.sh first" >&2; exit 1; }
export PATH="$venv/bin:$PATH" LD_LIBRARY_PATH="$site/nvidia_pytriton.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$site/pytriton/tritonserver/bin/tritonserver" \
  --model-repository "$repository" --backend-directory "$root/.triton/backends" \
  --http-address 127.0.0.1 --http-port "$http" --grpc-address 127.0.0.1 --grpc-port "$grpc" \
  --metrics-address 127.0.0.1 --metrics-port "$metrics" --allow-gpu-metrics=false \
  --model-control-mode=explicit --load-model='*' --log-verbose=0 "$@"
