#!/usr/bin/env bash
# Imaging ops side by side with OpenCV on the same machine: 4096x4096 RGBA8, Gaussian sigma 16 and Lanczos
# downscale to 1024x1024 (plus a 4096^2 mask feather). Prints medians and ratio = ours / OpenCV (lower is better).
# Usage: bash tests/bench/imaging_vs_opencv.sh [runs]   (needs /usr/bin/python3 with python3-opencv)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-7}
dotnet build tests/InpaintSuite.Benchmarks -c Release -nologo -v quiet >/dev/null
ours=$(dotnet run --no-build --project tests/InpaintSuite.Benchmarks -c Release -- imaging-bench "$runs")
cv=$(/usr/bin/python3 tests/bench/imaging_vs_opencv.py "$runs")
echo "$cv" | grep '^#' || true
printf '%-24s %12s %12s %8s\n' op ours_ms opencv_ms ratio
while read -r name ms; do
  c=$(echo "$cv" | awk -v n="$name" '$1==n {print $2}')
  [ -n "$c" ] || continue
  printf '%-24s %12s %12s %8s\n' "$name" "$ms" "$c" "$(awk -v a="$ms" -v b="$c" 'BEGIN{printf "%.2f", a/b}')"
done <<< "$ours"
