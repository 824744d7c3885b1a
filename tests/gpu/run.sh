#!/usr/bin/env bash
# CUDA check, for a machine with an NVIDIA GPU, its driver, CUDA 13 and cuDNN 9 (what the ONNX Runtime 1.30.0 GPU
# packages link against). Not part of tests/run-all.sh: CI machines have no GPU.
#  1. builds the cuda flavour (-p:OnnxRuntimeFlavor=cuda) and asks `inpaintsuite models` whether CUDA is usable;
#  2. runs the tiny-model parity tests with INPAINTSUITE_ORT_PROVIDER=cuda: an explicitly requested provider fails
#     instead of falling back, so passing means every session really ran on CUDA;
#  3. times the tiny UNet (one denoising step = one UNet run) on CPU and on CUDA, same process build, side by side.
#   SIZE latent (64)  RUNS per provider (20)  MODEL (tiny unet)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
SIZE=${SIZE:-64}; RUNS=${RUNS:-20}
MODEL=${MODEL:-$root/../shared/reference/diffusers/tiny_models/onnx/unet/model.onnx}
flavor=(-c Release -nologo -v quiet -p:OnnxRuntimeFlavor=cuda)

if ! nvidia-smi -L; then echo "tests/gpu/run.sh: no NVIDIA GPU here (nvidia-smi failed); nothing to check"; exit 2; fi

echo "== build (cuda flavour, into bin/cuda/)"
dotnet build src/InpaintSuite.Cli "${flavor[@]}"
dotnet build tests/InpaintSuite.Runtime.Tests "${flavor[@]}"
dotnet build tests/InpaintSuite.Pipelines.Tests "${flavor[@]}"
dotnet build tests/bench/OrtOverhead/OrtOverhead.csproj "${flavor[@]}" -o "$root/.cache/ort-gpu-bin"

echo "== inpaintsuite models (cuda build)"
models=$(src/InpaintSuite.Cli/bin/cuda/Release/net10.0/inpaintsuite models --models "$(mktemp -d)")
echo "$models"
grep -q "CUDA: usable" <<<"$models" || { echo "FAIL: the cuda build says CUDA is not usable (reason above)"; exit 1; }

echo "== tiny-model parity on CUDA"
export INPAINTSUITE_ORT_PROVIDER=cuda
dotnet test tests/InpaintSuite.Runtime.Tests/bin/cuda/Release/net10.0/InpaintSuite.Runtime.Tests.dll \
  --filter "FullyQualifiedName~TinyModelTests|FullyQualifiedName~ProviderChoiceIsExplicit|FullyQualifiedName~ConformanceTests"
dotnet test tests/InpaintSuite.Pipelines.Tests/bin/cuda/Release/net10.0/InpaintSuite.Pipelines.Tests.dll \
  --filter "FullyQualifiedName~DiffusersParityTests"
unset INPAINTSUITE_ORT_PROVIDER

echo "== UNet step timing, ${SIZE}x${SIZE} latent, $RUNS runs each (median ms)"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for p in cpu cuda; do
  out=$(dotnet "$root/.cache/ort-gpu-bin/OrtOverhead.dll" "$MODEL" "$SIZE" "$RUNS" 0 1 "$p")
  grep '^info' <<<"$out"
  echo "$p: median $(grep '^ms ' <<<"$out" | cut -c4- | median) ms per UNet step"
done
