#!/usr/bin/env bash
# Debian packages the tests use (all through Debian's /usr/bin/python3):
#   python3-grpcio + grpc-tools: a stock gRPC peer; opencv/pil/skimage: reference decodes, baselines, eval;
#   opencv-doc: sample photos; python3-onnx: builds the tiny test model folders (tests/tools/make_tiny_models.py); krita + xvfb: the real headless Krita; nodejs/npm for ONNX Runtime's native build.
#   openssl: the Krita bridge TLS test makes its certificate with it.
#   python3-pyqt5: Krita's Python plugins need it (Debian only recommends it); imagemagick: GUI screenshots.
set -euo pipefail
pkgs=(python3 python3-numpy python3-grpcio python3-grpc-tools python3-opencv python3-pil python3-skimage
      opencv-doc python3-onnx protobuf-compiler krita xvfb xauth python3-pyqt5 imagemagick openssl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PowerShell 7 (a dotnet tool; 7.6.10 pinned: the unversioned install takes 7.7.0, which fails here) runs
# installer/install.ps1 in tests/suites/install-ps1.sh.
if [ ! -x /opt/pwsh/pwsh ]; then
  dotnet tool install --tool-path /opt/pwsh PowerShell --version 7.6.10 >/dev/null
fi
