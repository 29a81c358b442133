#!/usr/bin/env bash
# Puts ONNX Runtime's shared library in .ort/lib (git-ignored), taken from the PyPI wheel: the
# `ort` crate loads it at run time (load-dynamic), and nothing else may be downloaded here.
# Idempotent: does nothing when the library is already there.
set -euo pipefail
ORT_VERSION=1.31.1   # the ONNX Runtime that ort 2.0.0-rc.15 targets (api-31)
cd "$(dirname "$0")/.."
dest=.ort/lib
lib="$dest/libonnxruntime.so.$ORT_VERSION"
if [ -f "$lib" ]; then exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: downloading the onnxruntime $ORT_VERSION wheel from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
  "onnxruntime==$ORT_VERSION" -d "$tmp"
mkdir -p "$dest"
python3 - "$tmp" "$dest" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile, os
tmp, dest, version = sys.argv[1:]
wheel = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
PY
ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest/libonnxruntime.so"
echo "fetch-ort: $lib"
