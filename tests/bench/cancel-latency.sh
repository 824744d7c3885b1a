#!/usr/bin/env bash
# Cancellation latency through a real daemon: cancel call -> worker free (JobQueue.JobFinished), p50/p99/max over
# COUNT cancels per engine at random moments (CancelJob RPC and dropped stream alternating), beside the time of one
# denoising step / fill iteration of an uncancelled run of the same job (the baseline the bound is relative to).
# Engines: tiny-sd-inpaint (9-ch), tiny-sd-base img2img, content-aware (SIZE², 10% hole), and tiny-sd-base with a
# content-aware pre-fill (the pre-fill is most of that job).
# usage: tests/bench/cancel-latency.sh [COUNT=50] [SIZE=1024] [extra cancel-latency tool options...]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-50}
size=${2:-1024}
shift $(( $# > 2 ? 2 : $# ))
models=$(mktemp -d /tmp/cancel-latency-models.XXXXXX)
trap 'rm -rf "$models"' EXIT
/usr/bin/python3 tests/tools/make_tiny_models.py "$models" --shared "$(tests/tools/shared-dir.sh)" >/dev/null
dotnet build tests/InpaintSuite.Benchmarks -c Release -nologo -v quiet >/dev/null
dotnet tests/InpaintSuite.Benchmarks/bin/Release/net10.0/InpaintSuite.Benchmarks.dll cancel-latency "$models" --count "$count" --ca-size "$size" "$@"
