#!/usr/bin/env bash
# Puts ONNX Runtime's shared library in .ort/lib (git-ignored), taken from the PyPI wheel: the
# `ort` crate loads it at run time (load-dynamic), and nothing else may be downloaded here.
# With --gpu: the CUDA build (onnxruntime-gpu, CUDA 13) and the CUDA and cuDNN libraries it
# loads (NVIDIA's PyPI wheels, about 1.5 GB) in .ort-gpu/lib instead, for a machine with an
# NVIDIA GPU (bench/gpu.sh): `--ort-lib .ort-gpu/lib/libonnxruntime.so --device cuda`, with
# LD_LIBRARY_PATH=.ort-gpu/lib.
# Idempotent: does nothing when the library is already there.
set -euo pipefail
ORT_VERSION=1.31.1   # the ONNX Runtime that ort 2.0.0-rc.15 targets (api-31)
cd "$(dirname "$0")/.."
dest=.ort/lib
package=onnxruntime
deps=(--no-deps)
if [ "${1:-}" = "--gpu" ]; then
  dest=.ort-gpu/lib
  package="onnxruntime-gpu[cuda,cudnn]"
  deps=()
fi
lib="$dest/libonnxruntime.so.$ORT_VERSION"
if [ -f "$lib" ]; then exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: downloading the $package $ORT_VERSION wheel from PyPI"
python3 -m pip download --quiet "${deps[@]}" --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --python-version 3.11 --implementation cp \
  "$package==$ORT_VERSION" -d "$tmp"
mkdir -p "$dest"
python3 - "$tmp" "$dest" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile, os
tmp, dest, version = sys.argv[1:]
# ONNX Runtime's libraries, and with --gpu those of NVIDIA's wheels (nvidia/*/lib/*.so*).
for wheel in glob.glob(os.path.join(tmp, "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            ours = name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime")
            cuda = name.startswith("nvidia/") and "/lib/" in name and ".so" in base
            if ours or cuda:
                with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                    out.write(src.read())
PY
ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest/libonnxruntime.so"
echo "fetch-ort: $lib"
