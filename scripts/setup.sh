#!/usr/bin/env bash
# Installs what pigweight needs on a Debian 12 machine (with --test, also what the tests need).
# Idempotent, and quick when all is there: it only calls apt when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# GStreamer 1.22 with the plugins that decode and encode our formats (x264 is in -ugly).
APT_PACKAGES=(
  pkg-config
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  gstreamer1.0-tools
  # WebRTC live view: webrtcbin's headers (gst-plugins-bad) and libnice's ICE elements.
  libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-nice
  # libjpeg-turbo for the API's JPEG encoding (turbojpeg crate, found through pkg-config).
  libturbojpeg0-dev
)

# With --test: what only the tests need (the browser tests drive Debian's chromium).
# The stream tests run an RTSP camera with GStreamer's RTSP server from Python; the index's
# PostgreSQL tests need PostgreSQL 15, and the cluster test nginx as its load balancer.
if [ "${1:-}" = "--test" ]; then
  APT_PACKAGES+=(chromium python3-gi gir1.2-gst-rtsp-server-1.0)
  APT_PACKAGES+=(postgresql-15 nginx-light)
fi

# Node.js and npm: the /docs page's Swagger UI comes from npm, and so do the tools of the
# generated-client and browser tests.
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

# Python with pip and venv: the ONNX Runtime library comes from a PyPI wheel, and the test
# fixtures are made with the `onnx` package.
python3 -m pip --version >/dev/null 2>&1 || APT_PACKAGES+=(python3-pip)
python3 -m venv --help >/dev/null 2>&1 || APT_PACKAGES+=(python3-venv)
command -v python3 >/dev/null 2>&1 || APT_PACKAGES+=(python3)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not on PATH; install Rust (rustup) first" >&2
  exit 1
fi

# What web/ loads at run time (Swagger UI for /docs), pinned by web/package-lock.json.
# shellcheck source=scripts/npm.sh
. scripts/npm.sh
npm_ci web
