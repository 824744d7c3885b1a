#!/usr/bin/env bash
# Binding overhead: the tiny UNet at a 64x64 latent (BATCH, default 1) through InpaintSuite's binding (the official
# managed API, Microsoft.ML.OnnxRuntime.Managed, behind the InferenceSession/OrtTensor facade) and through
# onnxruntime-node's JS binding, both over the same libonnxruntime 1.30.0 from the same npm tarball (the .NET side is
# pointed at it with INPAINTSUITE_ORT_LIBRARY), on the CPU provider with the same thread counts. Both stay loaded and single runs alternate (A B, B A, ...) so machine load
# hits both sides alike (ort-overhead-pair.mjs).
# Prints medians and ratios (InpaintSuite / node); exits 1 if the median of per-pair ratios exceeds 1.02.
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

echo "== build"
dotnet build tests/bench/OrtOverhead/OrtOverhead.csproj -c Release -nologo -v quiet -o "$root/.cache/ort-overhead-bin" >/dev/null
sha=$(sed -n 's:.*<InpaintSuiteOrtSha512>\([0-9a-f]*\)</InpaintSuiteOrtSha512>.*:\1:p' build/OnnxRuntime.targets)
if [ ! -f "$tgz" ]; then
  echo "== npm pack onnxruntime-node@1.30.0 (no install scripts)"
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent onnxruntime-node@1.30.0 >/dev/null)
fi
echo "$sha  $tgz" | sha512sum -c --quiet - || { echo "$tgz does not match the SHA-512 pinned in build/OnnxRuntime.targets"; exit 2; }
if [ ! -d "$node_dir/node_modules/onnxruntime-node" ]; then
  echo "== npm install onnxruntime-node from the verified tarball (no install scripts)"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --ignore-scripts --no-audit --no-fund --silent "$tgz" >/dev/null)
fi
# Both sides load this one file (the .NET side prints the path it loaded in its "info" line).
export INPAINTSUITE_ORT_LIBRARY="$node_dir/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
echo "native library for both sides: $INPAINTSUITE_ORT_LIBRARY"

node tests/bench/ort-overhead-pair.mjs "$PAIRS" "$root/.cache/ort-overhead-bin/OrtOverhead.dll" "$node_dir/node_modules" "$MODEL" "$SIZE" "$THREADS" "$BATCH"
