#!/usr/bin/env bash
# The daemon under load (issue 8): C# and python3-grpcio clients (half each) submit content-aware jobs to a fresh
# loopback daemon, a share cancelled (CancelJob / dropped stream); beside it the same jobs in-process and from one
# sequential client (the baseline). Prints jobs/s, p50/p99 queue wait, idle-while-jobs-wait and the cancel split,
# medians over the runs; every run is verified (right results, nothing lost or duplicated).
# Usage: bash tests/bench/load.sh [--clients 40] [--jobs 25] [--cancel 0.2] [--runs 3] [--workers 1]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- load "$@"
