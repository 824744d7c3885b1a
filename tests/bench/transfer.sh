#!/usr/bin/env bash
# Loopback gRPC transfer benchmark: 4096x4096 RGBA8 layer sent + same-size patch returned, engine doing
# no work; our C# client/daemon side by side with a python3-grpcio client and echo server.
# --tls adds the C# daemon over TLS (per-run certificate) with both clients, against the plaintext rows.
# Usage: bash tests/bench/transfer.sh [--size 4096] [--runs 7] [--tls]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- transfer "$@"
