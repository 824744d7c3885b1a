#!/usr/bin/env bash
# Binding overhead: the tiny UNet at a 64x64 latent (BATCH, default 1) through InpaintSuite's C-API binding and through
# onnxruntime-node's JS binding, both over the same libonnxruntime 1.30.0 from the same npm tarball, on the CPU
# provider with the same thread counts. Both stay loaded and single runs alternate (A B, B A, ...) so machine load
# hits both sides alike (ort-overhead-pair.mjs).
# Prints medians and the ratio (InpaintSuite / node); exits 1 if the ratio exceeds 1.05.
#   PAIRS (20) THREADS intra-op (1) SIZE latent (64) BATCH (1) MODEL (tiny unet)
# One run takes seconds: at 64x64 the latent has 4096 tokens, so each attention matrix is 4096x4096 per head.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
PAIRS=${PAIRS:-20}; THREADS=${THREADS:-1}; SIZE=${SIZE:-64}; BATCH=${BATCH:-1}
MODEL=${MODEL:-$root/../shared/reference/diffusers/tiny_models/onnx/unet/model.onnx}
cache="$root/.cache/onnxruntime"
tgz="$cache/onnxruntime-node-1.30.0.tgz"
node_dir="$cache/node-bench"

echo "== build (fetches and verifies the onnxruntime-node tarball if needed)"
dotnet build tests/bench/OrtOverhead/OrtOverhead.csproj -c Release -nologo -v quiet -o "$root/.cache/ort-overhead-bin" >/dev/null
[ -f "$tgz" ] || { echo "missing $tgz (the build should have fetched it)"; exit 2; }
if [ ! -d "$node_dir/node_modules/onnxruntime-node" ]; then
  echo "== npm install onnxruntime-node from the verified tarball (no install scripts)"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --ignore-scripts --no-audit --no-fund --silent "$tgz" >/dev/null)
fi
cmp -s "$node_dir/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1" \
       "$root/.cache/ort-overhead-bin/runtimes/linux-x64/native/libonnxruntime.so.1" \
  && echo "same native library on both sides (byte-identical libonnxruntime.so.1)"

node tests/bench/ort-overhead-pair.mjs "$PAIRS" "$root/.cache/ort-overhead-bin/OrtOverhead.dll" "$node_dir/node_modules" "$MODEL" "$SIZE" "$THREADS" "$BATCH"
