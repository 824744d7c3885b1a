#!/usr/bin/env bash
# Model cache through a real daemon with the tiny model folders: first-job latency without warm-up (cold) beside the
# same after warm-up and a steady-state second job (baseline); job latency alternating two models under a budget that
# fits one (every job reloads) beside one that fits both; the cost of a cache hit; the cost estimate beside the
# resident-set growth of loading three models. Medians over ROUNDS fresh daemons.
# usage: tests/bench/model-cache.sh [ROUNDS=7]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
models=$(mktemp -d /tmp/model-cache-models.XXXXXX)
trap 'rm -rf "$models"' EXIT
/usr/bin/python3 tests/tools/make_tiny_models.py "$models" --shared "$(tests/tools/shared-dir.sh)" >/dev/null
dotnet build tests/InpaintSuite.Benchmarks -c Release -nologo -v quiet >/dev/null
dotnet tests/InpaintSuite.Benchmarks/bin/Release/net10.0/InpaintSuite.Benchmarks.dll model-cache "$models" --rounds "$rounds"
